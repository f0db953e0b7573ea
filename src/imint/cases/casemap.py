"""A case's map as GeoJSON: the places its claims name, and what the parts place (photos' GPS, lines).

The same data draws the case page's Leaflet map, is served as JSON (``GET /cases/{id}/map.json``) and
becomes the report's static map. Cases know their claims' places; where a piece of evidence was taken
comes from the parts (``Part.case_map``: the checks part gives each photo's EXIF GPS point with its UTC
and local capture time, and a line where it contradicts a claimed place). Evidence no part placed still
shows when the file itself says where it is (a georeferenced scene's centre, GPS read at ingest).
"""

from __future__ import annotations

from typing import Any

from imint.cases.service import Claim, case_claims, case_evidence, get_case
from imint.records import Evidence
from imint.workspace import Workspace


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


def raster_centre(evidence: Evidence) -> tuple[float, float] | None:
    """(lat, lon) of a georeferenced raster's centre, None for anything else."""
    meta = evidence.metadata
    if not meta.get("crs") or not meta.get("transform"):
        return None
    try:
        from pyproj import Transformer

        a, b, c, d, e, f = meta["transform"]
        x = c + a * meta["width"] / 2 + b * meta["height"] / 2
        y = f + d * meta["width"] / 2 + e * meta["height"] / 2
        lon, lat = Transformer.from_crs(meta["crs"], "EPSG:4326", always_xy=True).transform(x, y)
        return float(lat), float(lon)
    except Exception:  # noqa: BLE001 - a scene we cannot place is simply not on the map
        return None


def claimed_places(claims: list[Claim]) -> list[dict[str, Any]]:
    """One point per claimed place (a place several claims name is one point listing them all)."""
    by_place: dict[tuple[float, float], dict[str, Any]] = {}
    for claim in claims:
        for place in claim.places:
            key = (round(place.lat, 5), round(place.lon, 5))
            feature = by_place.setdefault(
                key,
                {
                    "type": "Feature",
                    "geometry": _point(place.lon, place.lat),
                    "properties": {
                        "kind": "claimed-place",
                        "name": place.resolved_name or place.name,
                        "as_written": place.name,
                        "claims": [],
                    },
                },
            )
            feature["properties"]["claims"].append(
                {"id": claim.id, "text": claim.text[:160], "dates": claim.dates, "grading": claim.grading}
            )
    return list(by_place.values())


def _unplaced_evidence(evidence: list[Evidence], placed: set[str]) -> list[dict[str, Any]]:
    out = []
    for ev in evidence:
        if ev.sha256 in placed:
            continue
        base = {"sha256": ev.sha256, "name": ev.original_name, "url": f"/evidence/{ev.sha256}"}
        centre = raster_centre(ev)
        if centre:
            out.append(
                {
                    "type": "Feature",
                    "geometry": _point(centre[1], centre[0]),
                    "properties": {**base, "kind": "scene"},
                }
            )
        elif "gps_lat" in ev.metadata and ev.kind == "image":
            out.append(
                {
                    "type": "Feature",
                    "geometry": _point(ev.metadata["gps_lon"], ev.metadata["gps_lat"]),
                    "properties": {
                        **base,
                        "kind": "photo",
                        "thumbnail": f"/evidence/{ev.sha256}/file",
                        "capture_utc": None,
                        "capture_local": ev.metadata.get("exif_DateTimeOriginal"),
                        "time_zone": None,
                        "capture_basis": "EXIF read at ingest; no metadata check on record",
                        "contradictions": [],
                    },
                }
            )
    return out


def _bounds(features: list[dict[str, Any]]) -> list[list[float]] | None:
    coords: list[list[float]] = []
    for f in features:
        g = f["geometry"]
        coords.extend([g["coordinates"]] if g["type"] == "Point" else g["coordinates"])
    if not coords:
        return None
    lons, lats = [c[0] for c in coords], [c[1] for c in coords]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def map_features(ws: Workspace, claims: list[Claim], evidence: list[Evidence]) -> list[dict[str, Any]]:
    """Claimed places, then every part's features, then evidence no part placed."""
    features = claimed_places(claims)
    placed: set[str] = set()
    for part in ws.parts:
        for feature in part.case_map(ws, claims, evidence):
            features.append(feature)
            if sha := feature.get("properties", {}).get("sha256"):
                placed.add(sha)
    return features + _unplaced_evidence(evidence, placed)


def case_map(ws: Workspace, case: str | int) -> dict[str, Any]:
    """The case's map as a GeoJSON FeatureCollection (EPSG:4326), with ``bounds`` for fitting a view."""
    info = get_case(ws, case)
    claims = case_claims(ws, info.id)
    evidence = [ev for ev, _note in case_evidence(ws, info.id)]
    features = map_features(ws, claims, evidence)
    return {
        "type": "FeatureCollection",
        "case": {"id": info.id, "name": info.name},
        "features": features,
        "bounds": _bounds(features),
    }
