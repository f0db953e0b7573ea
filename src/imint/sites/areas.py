"""Areas of interest inside a site (a depot, a quay) and their activity over the site's dates.

The library behind ``imint sites area add/list`` and ``imint activity``: areas are stored polygons
(EPSG:4326); the activity series rasterises them on the grid of the site's scenes and runs
:func:`imint.sites.activity.activity_series` over one scene per date.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imint.errors import BadInputError, ConflictError, NotFoundError, ValidationError
from imint.sites import activity
from imint.sites.service import Scene, _polygon_geojson, get_site, list_scenes, parse_scene_date
from imint.sites.tables import AreaRow


@dataclass(frozen=True)
class SiteArea:
    id: int
    site: str
    name: str
    geometry: dict[str, Any]
    notes: str = ""
    created_at: str = ""
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": self.geometry,
            "properties": {"name": self.name, "area_id": self.id, "site": self.site},
        }


def _area(row: AreaRow, site: str) -> SiteArea:
    return SiteArea(
        id=row.id,
        site=site,
        name=row.name,
        geometry=row.geometry,
        notes=row.notes,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def polygon_from_geojson(data: Any, subject: str | Path = "polygon") -> dict[str, Any]:
    """The one polygon of a GeoJSON Polygon, Feature or one-feature FeatureCollection, checked."""
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        feats = data.get("features") or []
        if len(feats) != 1:
            raise BadInputError(f"need one polygon feature, found {len(feats)}", subject=subject)
        data = feats[0]
    try:
        return _polygon_geojson(data)
    except ValidationError as exc:
        raise ValidationError(exc.reason, subject=str(subject)) from None


def add_area(ws, site: str, name: str, polygon: Any, *, notes: str = "") -> SiteArea:  # noqa: ANN001
    """Store an area of interest of ``site``: a GeoJSON polygon in lon, lat (EPSG:4326)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("an area needs a name", subject="name")
    site_obj = get_site(ws, site)
    geometry = polygon_from_geojson(polygon)
    with ws.session() as s:
        if s.query(AreaRow).filter_by(site_id=site_obj.id, name=name).first():
            raise ConflictError(f"site {site_obj.name} already has an area with this name", subject=name)
        row = AreaRow(site_id=site_obj.id, name=name, geometry=geometry, notes=notes, created_by=ws.user)
        s.add(row)
        s.flush()
        return _area(row, site_obj.name)


def list_areas(ws, site: str) -> list[SiteArea]:  # noqa: ANN001
    site_obj = get_site(ws, site)
    with ws.session() as s:
        rows = s.query(AreaRow).filter_by(site_id=site_obj.id).order_by(AreaRow.name).all()
        return [_area(r, site_obj.name) for r in rows]


def get_area(ws, area_id: int) -> SiteArea:  # noqa: ANN001
    from imint.sites.tables import SiteRow

    with ws.session() as s:
        row = s.get(AreaRow, int(area_id))
        if row is None:
            raise NotFoundError("no such area of interest", subject=f"area {area_id}")
        return _area(row, s.get(SiteRow, row.site_id).name)


def parse_claim_dates(text: str | None) -> list[str]:
    """``2024-10-08/2024-10-13`` (a range: both ends) or ``2024-10-08,2024-10-10`` as ISO dates."""
    if not text or not text.strip():
        return []
    parts = [p for p in text.replace(",", "/").split("/") if p.strip()]
    return [parse_scene_date(p, subject="claim dates")[:10] for p in parts]


def _dated_scenes(scenes: Sequence[Scene]) -> tuple[list[Scene], list[str]]:
    """One scene per day (the first), of the modality most of the site's scenes have; and notes."""
    notes: list[str] = []
    dated = [sc for sc in scenes if sc.date]
    if len(dated) < len(scenes):
        notes.append(f"{len(scenes) - len(dated)} undated scene(s) left out")
    if not dated:
        return [], notes
    sar = [sc for sc in dated if sc.modality == "SAR"]
    chosen = sar if len(sar) * 2 >= len(dated) else [sc for sc in dated if sc.modality != "SAR"]
    if len(chosen) < len(dated):
        notes.append(f"{len(dated) - len(chosen)} scene(s) of the other modality left out")
    by_day: dict[str, Scene] = {}
    for sc in sorted(chosen, key=lambda s: (s.date or "", s.id)):
        by_day.setdefault(sc.date[:10], sc)  # type: ignore[index]
    return [by_day[d] for d in sorted(by_day)], notes


# Bump when the activity computation changes, so that no series cached by older code is served.
ACTIVITY_CACHE_VERSION = 1


def _activity_cache_key(
    scenes: Sequence[Scene], areas: Sequence[SiteArea], baseline_dates: int, z_gathering: float
) -> str:
    """A digest of everything the series depends on: each scene (file hash, date, modality, grid) and
    each area (id, name, polygon), plus the parameters; any change gives a new key."""
    content = {
        "version": ACTIVITY_CACHE_VERSION,
        "scenes": [
            [sc.id, sc.evidence_sha256, sc.date, sc.modality, sc.crs, list(sc.transform or [])]
            for sc in scenes
        ],
        "areas": [[a.id, a.name, a.geometry] for a in areas],
        "baseline_dates": baseline_dates,
        "z_gathering": z_gathering,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _activity_cache_dir(ws) -> Path:  # noqa: ANN001
    return Path(ws.path) / "cache" / "activity"


def _read_cached(path: Path) -> activity.ActivityReport | None:
    try:
        return activity.ActivityReport(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None  # absent, half-written by a crashed process or from another layout: recompute


def _write_cached(path: Path, site_id: int, report: activity.ActivityReport) -> None:
    """Write atomically (temporary file + rename) and drop the site's older entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report.to_dict()))
    tmp.replace(path)
    for old in path.parent.glob(f"site{site_id}-*.json"):
        if old != path:
            old.unlink(missing_ok=True)


def site_activity(
    ws,  # noqa: ANN001
    site: str,
    *,
    baseline_dates: int = activity.MIN_BASELINE,
    z_gathering: float = 3.0,
) -> activity.ActivityReport:
    """Activity index of every stored area of ``site`` over the dates of its scenes (one scene a day).

    The scenes must share one grid (co-registered); the first ``baseline_dates`` dates are the baseline.
    The series is cached in the workspace (``cache/activity``), keyed on the site's scenes and areas, so
    the site page and its chart do not recompute it; adding or changing a scene or an area changes the key.
    """
    site_obj = get_site(ws, site)
    areas = list_areas(ws, site_obj.name)
    if not areas:
        raise ValidationError(
            f"site {site_obj.name} has no areas of interest (add one: imint sites area add)", subject=site
        )
    all_scenes = list_scenes(ws, site_obj.name)
    key = _activity_cache_key(all_scenes, areas, baseline_dates, z_gathering)
    cached_path = _activity_cache_dir(ws) / f"site{site_obj.id}-{key}.json"
    cached = _read_cached(cached_path)
    if cached is not None:
        return cached
    report = _compute_site_activity(site_obj.name, all_scenes, areas, baseline_dates, z_gathering)
    _write_cached(cached_path, site_obj.id, report)
    return report


def _compute_site_activity(
    site: str,
    all_scenes: Sequence[Scene],
    areas: Sequence[SiteArea],
    baseline_dates: int,
    z_gathering: float,
) -> activity.ActivityReport:
    scenes, notes = _dated_scenes(all_scenes)
    if len(scenes) <= baseline_dates:
        raise ValidationError(
            f"an activity series needs more than {baseline_dates} dated scenes (site {site} "
            f"has {len(scenes)})",
            subject=site,
        )
    first = scenes[0]
    if not first.georeferenced:
        raise ValidationError(
            "areas are polygons in lon, lat: the scenes need a georeference", subject=first.original_name
        )
    modality = "sar" if first.modality == "SAR" else "optical"
    images, _ = activity.read_stack([sc.stored_path for sc in scenes], bands=1 if modality == "sar" else None)
    collection = {"type": "FeatureCollection", "features": [a.feature() for a in areas]}
    rasterised = activity.load_areas(
        collection, shape=images[0].shape[:2], crs=first.crs, transform=first.transform
    )
    report = activity.activity_series(
        images,
        [sc.date[:10] for sc in scenes],  # type: ignore[index]
        rasterised,
        modality=modality,
        baseline_dates=baseline_dates,
        names=[sc.original_name for sc in scenes],
        z_gathering=z_gathering,
    )
    report.notes[:0] = notes
    for area in report.areas.values():
        area["scene_ids"] = [sc.id for sc in scenes]
    return report


def activity_summary(ws, site: str, *, claim_dates: Sequence[str] = ()) -> dict[str, Any]:  # noqa: ANN001
    """The site's areas and their activity per date, gatherings first; ``error`` when none can be computed."""
    areas = list_areas(ws, site)
    out: dict[str, Any] = {
        "areas": [a.to_dict() for a in areas],
        "claim_dates": list(claim_dates),
        "activity": None,
        "gatherings": [],
        "error": None,
    }
    if not areas:
        return out
    try:
        report = site_activity(ws, site)
    except (ValidationError, BadInputError) as exc:
        out["error"] = str(exc)
        return out
    out["activity"] = report.to_dict()
    out["gatherings"] = report.gatherings()
    return out


def activity_chart_png(ws, site: str, *, claim_dates: Sequence[str] = ()) -> bytes:  # noqa: ANN001
    report = site_activity(ws, site)
    with tempfile.TemporaryDirectory(prefix="imint-activity-") as tmp:
        title = f"{site}: activity per area of interest; red circle = gathering"
        return report.chart_png(Path(tmp) / "a.png", claim_dates=claim_dates, title=title).read_bytes()
