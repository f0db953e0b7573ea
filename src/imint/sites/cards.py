"""Report cards for the sites part's records: ship quicklooks and change maps with their chart.

Registered through ``SitesPart.cards()`` for the record types ``scene``, ``change`` and ``activity``
(``activity:ID``: the activity series of the areas of interest at the site of scene ID).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from imint.errors import ImintError
from imint.records import Evidence
from imint.report import figures
from imint.report.cards import Card, Link
from imint.sites.areas import activity_chart_png, activity_summary
from imint.sites.changes import site_changes
from imint.sites.service import Scene, get_scene, list_scenes, stored_detections

if TYPE_CHECKING:
    from imint.workspace import Workspace

ARRIVAL, DEPARTURE, STAYED, DETECTED = "#2f9e44", "#e03131", "#adb5bd", "#f59f00"


def _quicklook(scene: Scene) -> tuple[Image.Image, float]:
    """The scene, small, as RGB; and the factor from full-resolution pixels to quicklook pixels."""
    img = figures.raster_quicklook(scene.stored_path, max_px=720).convert("RGB")
    return img, img.width / float(scene.width)


def _draw(img: Image.Image, boxes: list[list[float]], scale: float, colour: str, *, min_px: int = 7) -> None:
    """Boxes at quicklook scale, never smaller than ``min_px`` so a 3-pixel ship stays visible."""
    draw = ImageDraw.Draw(img)
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2 * scale, (y1 + y2) / 2 * scale
        half_w = max((x2 - x1) * scale, min_px) / 2
        half_h = max((y2 - y1) * scale, min_px) / 2
        draw.rectangle((cx - half_w, cy - half_h, cx + half_w, cy + half_h), outline=colour, width=2)


def _scene_facts(scene: Scene, evidence: Evidence) -> list[tuple[str, str]]:
    facts = [
        ("site", scene.site),
        ("date", scene.date or "undated"),
        ("modality", scene.modality),
        ("pixels", f"{scene.width} × {scene.height}"),
    ]
    if scene.pixel_size_m:
        facts.append(("pixel size", f"{scene.pixel_size_m:g} m"))
    facts.append(("CRS", scene.crs or "none (pixel mode)"))
    facts += [("file", evidence.original_name), ("SHA-256", evidence.sha256)]
    return facts


def scene_card(ws: Workspace, link: Link, evidence: Evidence) -> Card:
    """``scene:ID``: the scene with the ships the detector found boxed."""
    scene = get_scene(ws, link.record_id)
    detections = stored_detections(ws, scene)
    img, scale = _quicklook(scene)
    _draw(img, [d["box"] for d in detections], scale, DETECTED)
    map_uri = scene_map_uri(scene, detections)
    card = Card(
        title=f"Ships in {scene.site} on {scene.date or 'an undated scene'}",
        sha256=evidence.sha256,
        image=figures.image_uri(img, max_px=720, fmt="PNG"),
        caption="Boxes: objects the ship detector found (enlarged to stay visible).",
        facts=_scene_facts(scene, evidence),
    )
    if map_uri:
        card.extra_images.append(
            (map_uri, "Map: the scene warped to longitude/latitude, detections as red points.")
        )
    if detections:
        scores = [d["score"] for d in detections]
        detector = detections[0]["detector_id"]
        card.machine.append(
            f"Ship detector {detector} found {len(detections)} object(s), scores {min(scores):.2f}–{max(scores):.2f}. "
            "Not reviewed one by one by a person."
        )
        card.method.append(f"Ship detection: {detector}")
    else:
        card.machine.append(
            "No ship detections stored for this scene (the detector was not run, or found none)."
        )
    return card


def change_card(ws: Workspace, link: Link, evidence: Evidence) -> Card:
    """``change:ID``: arrivals, departures and ships that stayed between the previous date and this scene's."""
    scene = get_scene(ws, link.record_id)
    report = site_changes(ws, scene.site)
    day = (scene.date or "")[:10]
    pair = next((p for p in report.pairs if p.date_b == day), None)
    card = Card(
        title=f"Changes at {scene.site}" + (f", {pair.date_a} → {pair.date_b}" if pair else ""),
        sha256=evidence.sha256,
        facts=_scene_facts(scene, evidence),
    )
    if pair is None:
        card.machine.append(f"No earlier dated scene of {scene.site} to compare with {day or 'this scene'}.")
        return card
    img, scale = _quicklook(scene)
    earlier = [sc for sc in _scenes_on(ws, scene.site, pair.date_a)]
    same_grid = all(
        sc.transform == scene.transform and sc.width == scene.width and sc.height == scene.height
        for sc in earlier
    )
    _draw(img, [st["b"]["box"] for st in pair.stayed], scale, STAYED)
    _draw(img, [p["box"] for p in pair.arrivals], scale, ARRIVAL)
    if same_grid:  # departures are boxes of the earlier scene: drawn only where both share one pixel grid
        _draw(img, [p["box"] for p in pair.departures], scale, DEPARTURE)
    card.image = figures.image_uri(img, max_px=720, fmt="PNG")
    card.caption = (
        f"Change map on the {pair.date_b} scene: green = arrived, "
        + ("red = departed (position on the earlier date), " if same_grid else "")
        + "grey = stayed."
    )
    chart = figures.ships_per_date_chart(
        report.dates,
        [report.counts[d] for d in report.dates],
        [len(p.arrivals) for p in report.pairs],
        [len(p.departures) for p in report.pairs],
    )
    caption = f"Ships per date at {scene.site} (matched within {report.match_distance_m:g} {report.units})"
    card.extra_images.append((chart, caption))
    card.facts[:0] = [
        ("arrivals", str(len(pair.arrivals))),
        ("departures", str(len(pair.departures))),
        ("stayed", str(len(pair.stayed))),
        ("matched within", f"{report.match_distance_m:g} {report.units}"),
    ]
    card.machine.append(
        f"Between {pair.date_a} and {pair.date_b}: {len(pair.arrivals)} arrival(s), {len(pair.departures)} "
        f"departure(s), {len(pair.stayed)} ship(s) stayed — detections on the two dates matched within "
        f"{report.match_distance_m:g} {report.units}."
    )
    detectors = {d["detector_id"] for d in stored_detections(ws, scene)}
    card.method.append(
        "Change detection: ship detections of consecutive dates paired by distance (Hungarian assignment), "
        f"detector {', '.join(sorted(detectors)) or 'n/a'}"
    )
    card.machine.extend(report.notes)
    return card


def _scenes_on(ws: Workspace, site: str, day: str) -> list[Scene]:
    return [sc for sc in list_scenes(ws, site) if (sc.date or "")[:10] == day]


def scene_map_uri(scene: Scene, detections: list[dict]) -> str | None:
    """A static map (PNG data URI): the scene warped to lon/lat under its detections; None without georeference."""
    import io

    from imint.sites.overlay import scene_overlay

    if not scene.georeferenced:
        return None
    try:
        over = scene_overlay(scene, max_side=720)
    except ImintError:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=110)
    ax.imshow(over.rgba, extent=over.extent, interpolation="bilinear")
    points = [(d["lon"], d["lat"]) for d in detections if d.get("lon") is not None]
    if points:
        ax.scatter(*zip(*points, strict=True), s=28, facecolors="none", edgecolors="#e03131", linewidths=1.4)
    west, east, south, north = over.extent
    try:  # offline coastline (GLOBE land-mask edges) for orientation; the scene may be simulated
        from imint.sites.coastline import coastline_geojson

        for f in coastline_geojson(over.bounds, margin_deg=0.02)["features"]:
            xs, ys = zip(*f["geometry"]["coordinates"], strict=True)
            ax.plot(xs, ys, color="#2b8a3e", lw=1)
    except ImintError:
        pass
    try:  # offline country borders (Natural Earth 1:10 m), dashed
        from imint.sites.borders import borders_geojson

        for f in borders_geojson(over.bounds, margin_deg=0.02)["features"]:
            g = f["geometry"]
            for line in g["coordinates"] if g["type"] == "MultiLineString" else [g["coordinates"]]:
                xs, ys = zip(*line, strict=True)
                ax.plot(xs, ys, color="#7b2cbf", lw=1.2, ls="--")
    except ImintError:
        pass
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1 / max(np.cos(np.radians((south + north) / 2)), 1e-6))  # metres equal both ways
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.ticklabel_format(useOffset=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return figures.data_uri(buf.getvalue(), "image/png")


def activity_card(ws: Workspace, link: Link, evidence: Evidence) -> Card:
    """``activity:ID``: the activity index of the areas of interest at the site of scene ID, per date."""
    scene = get_scene(ws, link.record_id)
    summary = activity_summary(ws, scene.site)
    card = Card(
        title=f"Activity at {scene.site}",
        sha256=evidence.sha256,
        facts=_scene_facts(scene, evidence),
    )
    if summary["activity"] is None:
        card.machine.append(summary["error"] or f"Site {scene.site} has no areas of interest.")
        return card
    report = summary["activity"]
    chart = activity_chart_png(ws, scene.site)
    card.image = figures.data_uri(chart, "image/png")
    card.caption = (
        "Changed pixels per area of interest and date against the baseline dates (shaded band: baseline "
        "spread); red circles: gatherings (z > 3)."
    )
    gatherings = summary["gatherings"]
    card.facts[:0] = [
        ("areas", ", ".join(report["areas"])),
        ("dates", f"{len(report['dates'])} ({report['dates'][0]} – {report['dates'][-1]})"),
        ("baseline", ", ".join(report["baseline_dates"])),
        ("gatherings", ", ".join(f"{g['area']} {g['date']} (z {g['z']:.1f})" for g in gatherings) or "none"),
    ]
    if gatherings:
        card.machine.append(
            f"{len(gatherings)} area-date(s) with significantly more change than the baseline: "
            + "; ".join(
                f"{g['area']} on {g['date']}, {100 * g['index']:.1f} % of its pixels" for g in gatherings
            )
            + ". Change is not identified as vehicles, people or equipment by this measure."
        )
    else:
        card.machine.append("No date rises significantly above its baseline in any area.")
    card.machine.extend(report["notes"])
    card.method.append(
        f"Activity index ({report['modality']}): fraction of changed pixels per area against the median of "
        "the baseline dates; significance from the baseline's leave-one-out spread (imint.sites.activity)"
    )
    return card


RENDERERS = {"scene": scene_card, "change": change_card, "activity": activity_card}
