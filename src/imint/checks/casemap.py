"""What the checks put on a case's map: where each photo says it was taken, and where that contradicts a claim.

The point is the EXIF GPS point the ``metadata`` check stored (never a fresh read: the map shows what is on
record, with the ``check:ID`` it came from). Its capture time is given in UTC and as local wall clock with
the zone the check used. For each claim of the case that links the photo, :func:`contradictions` compares
the capture day with the claim's dates and the point with its places; a place contradiction becomes a line
from the photo to the nearest claimed place. A contradiction is a question for the analyst, not a finding
that the photo is false: GPS and clocks can be wrong, and metadata can be rewritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imint.checks.base import CheckResult
from imint.checks.metadata import contradictions, haversine_km
from imint.checks.runner import stored_results

if TYPE_CHECKING:
    from imint.cases import Claim
    from imint.records import Evidence
    from imint.workspace import Workspace


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


def _metadata_with_gps(ws: Workspace, sha256: str) -> CheckResult | None:
    for r in stored_results(ws, sha256):
        if r.check == "metadata" and r.status in ("ok", "flagged") and r.details.get("gps"):
            return r
    return None


def photo_features(ws: Workspace, claims: list[Claim], evidence: list[Evidence]) -> list[dict[str, Any]]:
    """A point per evidence with EXIF GPS on record, then a line per place contradiction with a claim."""
    features: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for ev in evidence:
        result = _metadata_with_gps(ws, ev.sha256)
        if result is None:
            continue
        d = result.details
        lat, lon = float(d["gps"]["lat"]), float(d["gps"]["lon"])
        found: list[dict[str, Any]] = []
        for claim in claims:
            links = [link for link in claim.links if link.evidence_sha256 == ev.sha256]
            if not links:
                continue
            for c in contradictions(result, claim):
                found.append(
                    {
                        "claim_id": claim.id,
                        "kind": c.kind,
                        "message": c.message,
                        "relation": links[0].relation,
                    }
                )
                if c.kind == "place":
                    nearest = min(claim.places, key=lambda p: haversine_km(lat, lon, p.lat, p.lon))
                    lines.append(
                        {
                            "type": "Feature",
                            "geometry": {
                                "type": "LineString",
                                "coordinates": [
                                    [round(lon, 6), round(lat, 6)],
                                    [round(nearest.lon, 6), round(nearest.lat, 6)],
                                ],
                            },
                            "properties": {
                                "kind": "contradiction",
                                "sha256": ev.sha256,
                                "name": ev.original_name,
                                "claim_id": claim.id,
                                "place": nearest.resolved_name or nearest.name,
                                "distance_km": round(haversine_km(lat, lon, nearest.lat, nearest.lon), 1),
                                "message": c.message,
                            },
                        }
                    )
        features.append(
            {
                "type": "Feature",
                "geometry": _point(lon, lat),
                "properties": {
                    "kind": "photo",
                    "sha256": ev.sha256,
                    "name": ev.original_name,
                    "url": f"/evidence/{ev.sha256}",
                    "thumbnail": f"/evidence/{ev.sha256}/file",
                    "capture_utc": d.get("capture_utc"),
                    "capture_local": d.get("capture_local"),
                    "time_zone": d.get("time_zone"),
                    "capture_basis": d.get("capture_basis"),
                    "check": f"check:{result.id}",
                    "contradictions": found,
                },
            }
        )
    return features + lines
