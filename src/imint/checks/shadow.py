"""A person marks an object and its shadow on a photo; the sun says at which times of that day it fits.

The analyst gives two lines on the stored picture's pixel grid (x right, y down): the object from its base
to its top, and its shadow from the same base to the shadow's tip (three clicks give both lines with one
shared base). Their length ratio is read as shadow length over height, and
:func:`imint.checks.sun.shadow_time_window` finds the UTC intervals of the day when the sun stood at the
elevation that ratio implies. The web page (``POST /evidence/{sha}/shadow``) and ``imint sun --object
... --shadow ...`` run this same function.

A marking is a person's input, kept in its own table (``shadow_markings``) apart from the machine's
``check_results``. What it cannot show: the ratio holds only for a vertical object on flat ground seen
without foreshortening; a wrong click, a slope or a lens distortion moves the window. It is a consistency
test of a claimed time, never proof of one.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from imint.checks.runner import stored_results
from imint.checks.sun import ShadowWindow, shadow_time_window
from imint.checks.tables import ShadowMarkingRow
from imint.errors import NotFoundError, ValidationError
from imint.media.ingest import log_custody
from imint.store.db import utcnow

if TYPE_CHECKING:
    from imint.workspace import Workspace

Line = tuple[float, float, float, float]  # x1, y1, x2, y2


def parse_line(text: str, field: str) -> Line:
    """``"x1,y1,x2,y2"`` as four finite numbers; anything else is refused naming the field."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValidationError(
            f"a line is X1,Y1,X2,Y2 in pixels (e.g. 120,340,120,200); got {text!r}", subject=field
        )
    return values  # type: ignore[return-value]


def lines_from_points(
    top: tuple[float, float], base: tuple[float, float], tip: tuple[float, float]
) -> tuple[Line, Line]:
    """Three clicked points as the object line (base -> top) and the shadow line (base -> tip)."""
    return (*base, *top), (*base, *tip)


def _length(line: Line) -> float:
    return math.dist(line[:2], line[2:])


def window_from_lines(
    lat: float,
    lon: float,
    claimed_utc: dt.datetime,
    object_line: Line,
    shadow_line: Line,
    *,
    tolerance: float = 0.15,
) -> ShadowWindow:
    """The sun times of ``claimed_utc``'s UTC day that fit the shadow/object length ratio."""
    if claimed_utc.tzinfo is None:
        raise ValidationError("the time needs a zone (e.g. 2024-07-10T11:30:00Z)", subject="claimed")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValidationError(f"no such place: {lat}, {lon}", subject="lat/lon")
    if not 0 < tolerance < 1:
        raise ValidationError(
            f"tolerance is a fraction between 0 and 1, not {tolerance}", subject="tolerance"
        )
    height, shadow = _length(object_line), _length(shadow_line)
    if height < 1:
        raise ValidationError("the object's base and top are the same pixel", subject="object")
    if shadow < 1:
        raise ValidationError("the shadow's base and tip are the same pixel", subject="shadow")
    when = claimed_utc.astimezone(dt.UTC)
    return shadow_time_window(lat, lon, when.date(), ratio=shadow / height, tolerance=tolerance, claimed=when)


@dataclass(frozen=True)
class ShadowMarking:
    """One stored marking: the person's lines and what the sun computation made of them."""

    id: int
    evidence_sha256: str
    object_line: list[float]
    shadow_line: list[float]
    lat: float
    lon: float
    place_basis: str
    claimed_utc: str
    time_basis: str
    tolerance: float
    result: dict[str, Any]
    note: str
    created_at: str
    created_by: str

    @property
    def summary(self) -> str:
        r = self.result
        lo, hi = r["elevation_range"]
        spans = ", ".join(f"{a[11:16]}-{b[11:16]}" for a, b in r["intervals_utc"]) or "no time that day"
        fits = "inside" if r["claimed_consistent"] else "outside"
        return (
            f"Shadow/height ratio {r['ratio']:.2f} (±{100 * self.tolerance:.0f} %) needs the sun at {lo:.1f}-{hi:.1f}°: "
            f"UTC {spans} on {r['day']}. The time {self.claimed_utc} ({self.time_basis}; sun at "
            f"{r['claimed_elevation']:.1f}°) falls {fits} it. Assumes a vertical object on flat ground; not proof."
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary, "consistent": self.result.get("claimed_consistent")}


def _row_to_marking(row: ShadowMarkingRow) -> ShadowMarking:
    return ShadowMarking(
        id=row.id,
        evidence_sha256=row.evidence_sha256,
        object_line=list(row.object_line),
        shadow_line=list(row.shadow_line),
        lat=row.lat,
        lon=row.lon,
        place_basis=row.place_basis,
        claimed_utc=row.claimed_utc,
        time_basis=row.time_basis,
        tolerance=row.tolerance,
        result=dict(row.result or {}),
        note=row.note,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def sun_inputs(ws: Workspace, sha256: str) -> dict[str, Any]:
    """The place and time the stored metadata check gives for a photo (None where it gives none)."""
    for r in stored_results(ws, sha256):
        if r.check == "metadata" and r.status in ("ok", "flagged"):
            gps = r.details.get("gps") or {}
            return {"lat": gps.get("lat"), "lon": gps.get("lon"), "claimed_utc": r.details.get("capture_utc")}
    return {"lat": None, "lon": None, "claimed_utc": None}


def _parse_utc(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _check_inside(line: Line, field: str, width: int | None, height: int | None) -> None:
    if not width or not height:
        return
    for x, y in (line[:2], line[2:]):
        # Either orientation: a browser shows the picture turned by its EXIF orientation.
        if not (0 <= x <= width and 0 <= y <= height) and not (0 <= x <= height and 0 <= y <= width):
            raise ValidationError(
                f"point {x:g},{y:g} is outside the {width} x {height} picture", subject=field
            )


def mark_shadow(
    ws: Workspace,
    sha256: str,
    *,
    object_line: Line,
    shadow_line: Line,
    lat: float | None = None,
    lon: float | None = None,
    claimed: dt.datetime | None = None,
    tolerance: float = 0.15,
    note: str = "",
) -> ShadowMarking:
    """Store a person's marking on a photo with the time window it gives; place and time default to EXIF."""
    ev = ws.evidence(sha256)
    if ev.sha256 != sha256:
        raise NotFoundError("no evidence with this hash", subject=sha256)
    if ev.kind != "image":
        raise ValidationError(
            f"shadows are marked on photos; {ev.original_name} is a {ev.kind}", subject="evidence"
        )
    _check_inside(object_line, "object", ev.metadata.get("width"), ev.metadata.get("height"))
    _check_inside(shadow_line, "shadow", ev.metadata.get("width"), ev.metadata.get("height"))
    found = sun_inputs(ws, sha256)
    # A value sent back unchanged from the page (which fills in the EXIF ones) keeps the EXIF basis.
    place_basis = "EXIF GPS" if (lat, lon) == (found["lat"], found["lon"]) else "given"
    if lat is None or lon is None:
        if found["lat"] is None:
            raise ValidationError(
                f"{ev.original_name} has no EXIF GPS point on record: give lat and lon", subject="lat/lon"
            )
        lat, lon, place_basis = found["lat"], found["lon"], "EXIF GPS"
    exif_time = _parse_utc(found["claimed_utc"])
    time_basis = "EXIF capture time" if claimed is not None and claimed == exif_time else "given"
    if claimed is None:
        if not found["claimed_utc"]:
            raise ValidationError(
                f"{ev.original_name} has no EXIF capture time in UTC on record: give the claimed time",
                subject="claimed",
            )
        claimed, time_basis = exif_time, "EXIF capture time"
    window = window_from_lines(lat, lon, claimed, object_line, shadow_line, tolerance=tolerance)
    claimed_text = window.claimed.isoformat().replace("+00:00", "Z") if window.claimed else ""
    with ws.session() as s:
        row = ShadowMarkingRow(
            evidence_sha256=sha256,
            object_line=[float(v) for v in object_line],
            shadow_line=[float(v) for v in shadow_line],
            lat=float(lat),
            lon=float(lon),
            place_basis=place_basis,
            claimed_utc=claimed_text,
            time_basis=time_basis,
            tolerance=tolerance,
            result=window.to_dict(),
            note=note,
            created_at=utcnow(),
            created_by=ws.user,
        )
        s.add(row)
        s.flush()
        log_custody(s, sha256, "shadow-marked", ws.user, marking=row.id, consistent=window.claimed_consistent)
        s.flush()
        return _row_to_marking(row)


def shadow_markings(ws: Workspace, sha256: str) -> list[ShadowMarking]:
    """Every marking stored for a photo, oldest first."""
    with ws.session() as s:
        rows = s.scalars(
            select(ShadowMarkingRow)
            .where(ShadowMarkingRow.evidence_sha256 == sha256)
            .order_by(ShadowMarkingRow.id)
        ).all()
        return [_row_to_marking(r) for r in rows]
