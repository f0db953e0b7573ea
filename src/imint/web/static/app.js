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
