"""What the sites pages show, as plain data: the library behind the web routes (a script can call it too).

Each function takes a workspace and ids, and returns JSON-able dicts (or PNG bytes); the routes only
parse the request and render.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from imint.sites import areas, geo, overlay
from imint.sites.changes import site_changes
from imint.sites.service import (
    DETECTORS,
    Scene,
    detections_geojson,
    get_scene,
    get_site_by_id,
    list_scenes,
    list_sites,
    site_id_of,
    stored_detections,
    write_quicklook,
)

OVERLAY_PX = 1024


def site_summaries(ws) -> list[dict[str, Any]]:  # noqa: ANN001 - imint.workspace.Workspace
    """Every site with its number of scenes and the dates they were taken."""
    scenes = list_scenes(ws)
    items = []
    for site in list_sites(ws):
        mine = [sc for sc in scenes if sc.site == site.name]
        items.append(
            {**site.to_dict(), "scenes": len(mine), "dates": sorted({sc.date for sc in mine if sc.date})}
        )
    return items


def _map_by_date(ws, scenes: list[Scene]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:  # noqa: ANN001
    """Per date: the scenes' footprints and detections as map layers; and one row per scene."""
    by_date: dict[str, dict[str, Any]] = {}
    scene_rows = []
    for sc in scenes:
        found = stored_detections(ws, sc.id)
        day = by_date.setdefault(
            sc.date or "undated",
            {"footprints": [], "detections": {"type": "FeatureCollection", "features": []}},
        )
        if sc.footprint:
            day["footprints"].append(sc.footprint)
        corners = overlay.overlay_bounds(sc, max_side=OVERLAY_PX)
        if corners:  # the scene itself, warped to lon/lat, laid under the detections
            day.setdefault("overlays", []).append({"url": f"/scenes/{sc.id}/overlay.png", "bounds": corners})
        day["detections"]["features"] += [
            f for f in detections_geojson(sc, found)["features"] if f["geometry"]
        ]
        scene_rows.append({**sc.to_dict(), "detections": len(found)})
    for day in by_date.values():  # one footprint layer per date for the map
        day["footprint"] = {"type": "GeometryCollection", "geometries": day.pop("footprints")}
    return by_date, scene_rows


def site_overview(ws, site_id: int) -> dict[str, Any]:  # noqa: ANN001
    """A site on a map: its area, each scene's footprint and detections, one date at a time."""
    site = get_site_by_id(ws, site_id)
    scenes = list_scenes(ws, site.name)
    by_date, scene_rows = _map_by_date(ws, scenes)
    geoms = [site.geometry] + [sc.footprint for sc in scenes if sc.footprint]
    activity = areas.activity_summary(ws, site.name)
    return {
        "site": site.to_dict(),
        "scenes": scene_rows,
        "activity": activity,
        "map": {
            "area": site.geometry,
            "areas": {"type": "FeatureCollection", "features": [_area_feature(a) for a in activity["areas"]]},
            "dates": sorted(by_date),
            "by_date": by_date,
            "bounds": geo.latlon_bounds(geoms),
            "coastline_url": f"/sites/{site.id}/coastline.geojson",
            "borders_url": f"/sites/{site.id}/borders.geojson",
        },
        "detectors": list(DETECTORS),
    }


def _area_feature(area: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": area["geometry"],
        "properties": {"name": area["name"], "id": area["id"]},
    }


def activity_overview(ws, site_id: int, *, claim_dates: list[str] | None = None) -> dict[str, Any]:  # noqa: ANN001
    """A site's areas of interest and their activity per date (gatherings first)."""
    site = get_site_by_id(ws, site_id)
    return {"site": site.to_dict(), **areas.activity_summary(ws, site.name, claim_dates=claim_dates or [])}


def activity_chart_png(ws, site_id: int, *, claim_dates: list[str] | None = None) -> bytes:  # noqa: ANN001
    """The activity series of a site's areas as a PNG (claim dates dashed)."""
    site = get_site_by_id(ws, site_id)
    return areas.activity_chart_png(ws, site.name, claim_dates=claim_dates or [])


def site_coastline(ws, site_id: int) -> dict[str, Any]:  # noqa: ANN001
    """Offline coastline (GLOBE land-mask edges, EPSG:4326 LineStrings) around a site and its scenes."""
    from imint.sites.coastline import coastline_geojson

    site = get_site_by_id(ws, site_id)
    geoms = [site.geometry] + [sc.footprint for sc in list_scenes(ws, site.name) if sc.footprint]
    return coastline_geojson(geo.latlon_bounds(geoms))


def site_borders(ws, site_id: int) -> dict[str, Any]:  # noqa: ANN001
    """Offline country borders (Natural Earth 1:10 m, EPSG:4326 LineStrings) around a site and its scenes."""
    from imint.sites.borders import borders_geojson

    site = get_site_by_id(ws, site_id)
    geoms = [site.geometry] + [sc.footprint for sc in list_scenes(ws, site.name) if sc.footprint]
    return borders_geojson(geo.latlon_bounds(geoms))


def scene_overlay_png(ws, scene_id: int) -> bytes:  # noqa: ANN001
    """The scene warped to EPSG:4326 as an RGBA PNG, for the map's image overlay."""
    return overlay.scene_overlay(get_scene(ws, scene_id), max_side=OVERLAY_PX).png()


def scene_overview(ws, scene_id: int) -> dict[str, Any]:  # noqa: ANN001
    """A scene, the id of its site and its stored detections as GeoJSON."""
    sc = get_scene(ws, scene_id)
    found = stored_detections(ws, sc.id)
    return {
        "scene": sc.to_dict(),
        "site_id": site_id_of(ws, sc.site),
        "detections": detections_geojson(sc, found),
    }


def scene_quicklook_png(ws, scene_id: int, *, max_side: int = 1600) -> bytes:  # noqa: ANN001
    """A PNG of the scene with its detections boxed."""
    sc = get_scene(ws, scene_id)
    found = stored_detections(ws, sc.id)
    with tempfile.TemporaryDirectory(prefix="imint-quicklook-") as tmp:
        return write_quicklook(sc, found, Path(tmp) / "q.png", max_side=max_side).read_bytes()


def changes_with_activity(
    ws,  # noqa: ANN001
    site_name: str,
    *,
    match_distance_m: float = 200.0,
    detector: str | None = None,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The change report, its JSON (with the areas' activity) and its GeoJSON (with the areas' polygons).

    Each area of interest is a GeoJSON Feature with ``change: "area-activity"`` and its activity per date.
    """
    report = site_changes(ws, site_name, match_distance_m=match_distance_m, detector=detector)
    activity = areas.activity_summary(ws, site_name)
    geojson = report.to_geojson()
    series = (activity["activity"] or {}).get("areas", {})
    for area in activity["areas"]:
        feature = _area_feature(area)
        feature["properties"] |= {
            "change": "area-activity",
            "activity": series.get(area["name"], {}).get("series", []),
        }
        geojson["features"].append(feature)
    return report, report.to_dict() | {"activity": activity}, geojson


def changes_overview(ws, site_id: int, *, match_distance_m: float = 200.0) -> dict[str, Any]:  # noqa: ANN001
    """Ships per date and arrivals / departures / stayed between consecutive dates, with GeoJSON."""
    site = get_site_by_id(ws, site_id)
    _, data, geojson = changes_with_activity(ws, site.name, match_distance_m=match_distance_m)
    return {"site": site.to_dict(), "changes": data, "activity": data["activity"], "geojson": geojson}


def changes_chart_png(ws, site_id: int) -> bytes:  # noqa: ANN001
    """Ships per date with arrivals and departures, as a PNG."""
    site = get_site_by_id(ws, site_id)
    report = site_changes(ws, site.name)
    with tempfile.TemporaryDirectory(prefix="imint-chart-") as tmp:
        return report.chart_png(Path(tmp) / "chart.png").read_bytes()
