// imint web UI behaviour. No inline scripts (the Content-Security-Policy forbids them).
"use strict";

// Buttons with data-confirm ask before submitting (e.g. rejecting a candidate).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// Site map: Leaflet on a page that has #map with its data in a JSON script element.
function initSiteMap() {
  const mapEl = document.getElementById("map");
  const dataEl = document.getElementById("site-data");
  if (!mapEl || !dataEl || typeof L === "undefined") return;
  const site = JSON.parse(dataEl.textContent);
  // Offline: no tile server. The scene footprints and detections are drawn on a plain background.
  const map = L.map(mapEl, { attributionControl: false });
  L.control.scale({ imperial: false }).addTo(map);
  // Scenes get their own pane under the vector layers, so a picture loaded later never hides a detection.
  map.createPane("scenes").style.zIndex = 350;
  const layer = L.layerGroup().addTo(map);
  const slider = document.getElementById("date-slider");
  const label = document.getElementById("date-label");
  const dates = site.dates || [];
  function show(index) {
    layer.clearLayers();
    const date = dates[index];
    if (label) label.textContent = date || "no scenes";
    const day = (site.by_date || {})[date];
    if (!day) return;
    // The scene itself (warped to lon/lat by the server) under its footprint and detections.
    for (const o of day.overlays || []) {
      L.imageOverlay(o.url, o.bounds, { pane: "scenes", opacity: 0.9, className: "scene-overlay", alt: "scene " + date }).addTo(layer);
    }
    if (day.footprint) L.geoJSON(day.footprint, { style: { color: "#555", weight: 1, fillOpacity: 0.05 } }).addTo(layer);
    if (day.detections) {
      L.geoJSON(day.detections, {
        style: { color: "#d0312d", weight: 2 },
        pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 5, color: "#d0312d" }),
        onEachFeature: (f, l) => l.bindTooltip(`${f.properties.class || "object"} ${(f.properties.score || 0).toFixed(2)}`),
      }).addTo(layer);
    }
    const count = document.getElementById("date-count");
    if (count) count.textContent = day.detections ? day.detections.features.length : 0;
  }
  if (site.bounds) map.fitBounds(site.bounds); else map.setView([0, 0], 2);
  if (site.area) L.geoJSON(site.area, { style: { color: "#1f5fbf", weight: 2, fill: false } }).addTo(map);
  if (site.coastline_url) {  // offline coastline (land-mask edges), drawn faint under everything else
    fetch(site.coastline_url, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((g) => { if (g) L.geoJSON(g, { interactive: false, style: { color: "#2b8a3e", weight: 1.5, opacity: 0.8 } }).addTo(map); })
      .catch(() => {});
  }
  if (site.borders_url) {  // offline country borders (Natural Earth 1:10 m), dashed
    fetch(site.borders_url, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((g) => {
        if (g) L.geoJSON(g, {
          className: "country-border",
          style: { color: "#7b2cbf", weight: 2, opacity: 0.9, dashArray: "6 4" },
          onEachFeature: (f, l) => l.bindTooltip(f.properties.between),
        }).addTo(map);
      })
      .catch(() => {});
  }
  if (site.areas && site.areas.features.length) {
    L.geoJSON(site.areas, {
      style: { color: "#f08c00", weight: 2, fillOpacity: 0.05 },
      onEachFeature: (f, l) => l.bindTooltip(f.properties.name),
    }).addTo(map);
  }
  if (slider) {
    slider.max = Math.max(0, dates.length - 1);
    slider.value = slider.max;
    slider.addEventListener("input", () => show(Number(slider.value)));
  }
  show(dates.length - 1);
}
document.addEventListener("DOMContentLoaded", initSiteMap);

// Small DOM helper: text always goes in as text (names and notes come from users).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// Case map: claimed places, photos at their EXIF GPS point, lines where a photo contradicts a claim.
function casePopup(f) {
  const p = f.properties;
  const box = el("div", { class: "map-popup" });
  if (p.kind === "photo") {
    box.append(el("img", { src: p.thumbnail, alt: p.name }));
    box.append(el("a", { href: p.url, class: "evidence-link" }, p.name));
    box.append(el("div", { class: "capture-utc" }, "captured (UTC): " + (p.capture_utc || "unknown")));
    box.append(el("div", { class: "capture-local" },
      "local: " + (p.capture_local || "unknown") + (p.time_zone ? " (" + p.time_zone + ")" : "")));
    for (const c of p.contradictions || []) box.append(el("div", { class: "contradiction" }, `claim #${c.claim_id}: ${c.message}`));
  } else if (p.kind === "claimed-place") {
    box.append(el("b", {}, p.name));
    for (const c of p.claims || []) box.append(el("div", {}, `claim #${c.id} (${c.grading}${c.dates ? ", " + c.dates : ""}): ${c.text}`));
  } else if (p.kind === "contradiction") {
    box.append(el("div", { class: "contradiction" }, `${p.name} / claim #${p.claim_id}: ${p.message}`));
  } else {
    box.append(el("a", { href: p.url || "#" }, p.name || p.kind));
  }
  return box;
}

function initCaseMap() {
  const mapEl = document.getElementById("case-map");
  const dataEl = document.getElementById("case-map-data");
  if (!mapEl || !dataEl || typeof L === "undefined") return;
  const data = JSON.parse(dataEl.textContent);
  const map = L.map(mapEl, { attributionControl: false });
  L.control.scale({ imperial: false }).addTo(map);
  L.geoJSON(data, {
    style: (f) => (f.properties.kind === "contradiction" ? { color: "#e8590c", weight: 2, dashArray: "6 4" } : { color: "#1f5fbf" }),
    pointToLayer: (f, latlng) => {
      const p = f.properties;
      if (p.kind === "claimed-place") return L.circleMarker(latlng, { radius: 7, color: "#c92a2a", className: "claimed-place" });
      return L.marker(latlng, { title: p.name, alt: (p.kind === "photo" ? "photo " : "scene ") + p.name });
    },
    onEachFeature: (f, layer) => layer.bindPopup(() => casePopup(f)),
  }).addTo(map);
  if (data.bounds) map.fitBounds(data.bounds, { padding: [30, 30], maxZoom: 11 }); else map.setView([20, 0], 2);
}
document.addEventListener("DOMContentLoaded", initCaseMap);

// Shadow marking on the evidence page: three clicks (base, top, shadow tip) on the photo, then the
// server computes the sun times the shadow allows (the same code as `imint sun --object --shadow`).
function initShadowMarker() {
  const img = document.getElementById("shadow-photo");
  const form = document.getElementById("shadow-form");
  if (!img || !form) return;
  const svg = document.getElementById("shadow-overlay");
  const step = document.getElementById("shadow-step");
  const submit = document.getElementById("shadow-submit");
  const result = document.getElementById("shadow-result");
  const steps = ["1. Click the object's base (where it meets the ground).", "2. Click the object's top.",
    "3. Click the tip of its shadow.", "Marked. Check the time and place, then compute."];
  let points = [];
  const NS = "http://www.w3.org/2000/svg";
  function naturalSize() {
    // The picture as the browser shows it (EXIF rotation applied); lengths, hence the ratio, do not depend on it.
    return [img.naturalWidth || Number(img.dataset.width), img.naturalHeight || Number(img.dataset.height)];
  }
  function draw() {
    const [w, h] = naturalSize();
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.replaceChildren();
    const r = Math.max(w, h) / 150;
    const colours = ["#1f5fbf", "#1f5fbf", "#e8590c"];
    points.forEach(([x, y], i) => {
      const c = document.createElementNS(NS, "circle");
      c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", r);
      c.setAttribute("fill", colours[i]); c.setAttribute("class", "shadow-point");
      svg.append(c);
    });
    const line = (a, b, colour) => {
      const l = document.createElementNS(NS, "line");
      l.setAttribute("x1", a[0]); l.setAttribute("y1", a[1]); l.setAttribute("x2", b[0]); l.setAttribute("y2", b[1]);
      l.setAttribute("stroke", colour); l.setAttribute("stroke-width", r / 2);
      svg.append(l);
    };
    if (points.length >= 2) line(points[0], points[1], "#1f5fbf");
    if (points.length >= 3) line(points[0], points[2], "#e8590c");
    step.textContent = steps[points.length];
    submit.disabled = points.length < 3;
  }
  img.addEventListener("click", (event) => {
    if (points.length >= 3) return;
    const box = img.getBoundingClientRect();
    const [w, h] = naturalSize();
    const x = ((event.clientX - box.left) * w) / box.width;
    const y = ((event.clientY - box.top) * h) / box.height;
    points.push([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
    draw();
  });
  document.getElementById("shadow-reset").addEventListener("click", () => { points = []; result.replaceChildren(); draw(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (points.length < 3) return;
    const [base, top, tip] = points;
    document.getElementById("shadow-object-line").value = [...base, ...top].join(",");
    document.getElementById("shadow-shadow-line").value = [...base, ...tip].join(",");
    const body = new FormData(form);
    for (const [k, v] of [...body.entries()]) if (v === "") body.delete(k);  // empty: the EXIF value
    submit.disabled = true;
    result.replaceChildren(el("span", { class: "muted" }, "computing..."));
    try {
      const r = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF-Token": body.get("csrf_token") || "" },
      });
      const data = await r.json();
      if (!r.ok) {
        result.replaceChildren(el("p", { class: "error", id: "shadow-error" }, data.detail || `error ${r.status}`));
        return;
      }
      const res = data.result;
      const spans = res.intervals_utc.map(([a, b]) => `${a.slice(11, 16)}-${b.slice(11, 16)}`).join(", ") || "no time that day";
      result.replaceChildren(
        el("p", { id: "shadow-window" }, `Sun elevation ${res.elevation_range[0]}-${res.elevation_range[1]}°: UTC ${spans} on ${res.day}.`),
        el("p", { id: "shadow-answer", class: res.claimed_consistent ? "consistent" : "inconsistent" },
          `The time ${data.claimed_utc} (${data.time_basis}) is ${res.claimed_consistent ? "inside" : "outside"} this window.`),
        el("p", { class: "muted" }, `Stored as shadow marking ${data.id} by ${data.created_by}. Not proof: a vertical object on flat ground is assumed.`),
      );
      const table = document.querySelector("#shadow-markings tbody");
      if (table) {
        table.querySelectorAll("tr.none").forEach((row) => row.remove());
        table.append(el("tr", { id: `shadow-marking-${data.id}` }, el("td", {}, data.created_by),
          el("td", {}, `${data.lat.toFixed(5)}, ${data.lon.toFixed(5)} (${data.place_basis}); ${data.claimed_utc} (${data.time_basis})`),
          el("td", {}, data.summary)));
      }
    } catch (err) {
      result.replaceChildren(el("p", { class: "error", id: "shadow-error" }, String(err)));
    } finally {
      submit.disabled = points.length < 3;
    }
  });
  draw();
}
document.addEventListener("DOMContentLoaded", initShadowMarker);
