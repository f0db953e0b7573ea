"""Metadata in depth: EXIF, XMP and IPTC (exiv2 through ``pyexiv2``), HEIC through ``pillow-heif``.

It reads who made the file (maker, model, software), its edit history (XMP ``xmpMM:History``,
``photoshop:History``, derived-from and document ids), GPS, and the capture time, which EXIF gives as a
local wall-clock time without a zone. The time is turned into UTC with, in this order: EXIF
``OffsetTimeOriginal``; else the time zone at the GPS point (``timezonefinder``, offline); the GPS
receiver's own UTC stamp is reported beside it.

What it cannot show: metadata is written by software and anyone can rewrite it; its absence is normal
(most platforms strip it) and proves nothing; a camera clock can be wrong by hours or years.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from imint.checks.base import HEIF_BRANDS, CheckContext, CheckResult, not_applicable

if TYPE_CHECKING:
    from imint.cases import Claim
    from imint.workspace import Workspace

MAX_XMP_BYTES = 1 << 20  # an XMP packet over 1 MiB is refused before it is parsed
EDIT_SOFTWARE = re.compile(
    r"photoshop|lightroom|gimp|affinity|pixelmator|snapseed|picsart|facetune|paint\.net|canva|"
    r"photopea|luminar|capture one|darktable|rawtherapee|firefly|midjourney|stable diffusion|dall",
    re.IGNORECASE,
)
METHOD_ID = "exiv2 (pyexiv2 2.16.0) + timezonefinder 9.0.0"


def _xmp_spans(data: bytes) -> list[int]:
    """Sizes of the XMP packets in the raw bytes (found without parsing them)."""
    sizes = []
    for m in re.finditer(rb"<x:xmpmeta", data):
        end = data.find(b"</x:xmpmeta>", m.start())
        sizes.append((end if end >= 0 else len(data)) - m.start())
    return sizes


def _rational(text: str) -> float:
    num, _, den = text.partition("/")
    return float(num) / float(den) if den and float(den) else float(num)


def _dms(value: str | None, ref: str | None) -> float | None:
    if not value:
        return None
    parts = value.split()
    if len(parts) != 3:
        return None
    d, m, s = (_rational(p) for p in parts)
    deg = d + m / 60 + s / 3600
    return -deg if (ref or "").strip().upper() in ("S", "W") else deg


def _exif_datetime(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _offset(text: str | None) -> dt.timezone | None:
    m = re.fullmatch(r"\s*([+-])(\d{2}):(\d{2})\s*", text or "")
    if not m:
        return None
    minutes = int(m[2]) * 60 + int(m[3])
    return dt.timezone(dt.timedelta(minutes=minutes if m[1] == "+" else -minutes))


@functools.cache
def _tz_finder():  # noqa: ANN202 - timezonefinder.TimezoneFinder, loaded once (its data are ~50 MB)
    from timezonefinder import TimezoneFinder

    return TimezoneFinder()


def zone_at(lat: float, lon: float) -> str | None:
    """IANA time zone at a point, offline (``timezonefinder``); None at sea or where unknown."""
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return (
            None  # EXIF GPS of 218 degrees made timezonefinder raise ValueError (tests/test_fuzz_checks.py)
        )
    return _tz_finder().timezone_at(lng=lon, lat=lat)


def local_to_utc(local: dt.datetime, zone: str) -> tuple[dt.datetime, str]:
    """A naive local time in ``zone`` as UTC, with a note when the wall-clock time is ambiguous or absent."""
    tz = ZoneInfo(zone)
    early, late = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    note = ""
    if early.utcoffset() != late.utcoffset():
        note = "this local time occurs twice or never that day (daylight-saving change); the earlier is used"
    return early.astimezone(dt.UTC), note


def read_tags(data: bytes, name: str, fail) -> dict[str, dict[str, str]]:  # noqa: ANN001 - ctx.fail
    """EXIF, XMP and IPTC as exiv2 keys -> text. HEIC/AVIF read through pillow-heif's EXIF block."""
    import pyexiv2

    pyexiv2.set_log_level(4)  # exiv2 warnings go to the result, not to stderr
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return _heif_tags(data, fail)
    try:
        img = pyexiv2.ImageData(data)
    except RuntimeError as exc:
        raise fail(f"metadata unreadable: {exc}") from exc
    try:
        out: dict[str, dict[str, str]] = {}
        for part, reader in (("exif", img.read_exif), ("xmp", img.read_xmp), ("iptc", img.read_iptc)):
            try:
                values = _read_part(reader, part, fail)
            except RuntimeError as exc:
                raise fail(f"{part.upper()} block present but unreadable: {exc}") from exc
            out[part] = {k: (" ".join(v) if isinstance(v, list) else str(v)) for k, v in values.items()}
        return out
    finally:
        img.close()


def _read_part(reader, part: str, fail) -> dict[str, Any]:  # noqa: ANN001
    try:
        return reader()
    except UnicodeDecodeError:
        # Text that is not UTF-8 (older cameras and editors write Latin-1); pyexiv2 decodes strictly
        # (found by tests/test_fuzz_images.py). Latin-1 reads every byte, so the tags are kept.
        try:
            return reader(encoding="latin-1")
        except UnicodeDecodeError as exc:  # a UCS-2 tag (XPComment...) of odd length
            raise fail(f"{part.upper()} block has text that cannot be decoded: {exc}") from exc


def _heif_tags(data: bytes, fail) -> dict[str, dict[str, str]]:  # noqa: ANN001
    import pillow_heif
    from PIL import ExifTags, Image

    pillow_heif.register_heif_opener()
    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            xmp = im.info.get("xmp") or b""
    except Exception as exc:  # noqa: BLE001 - any decoder error is this file's problem
        raise fail(f"HEIF container unreadable: {exc}") from exc
    tags: dict[str, str] = {}
    ifds = (
        (exif, "Image"),
        (exif.get_ifd(ExifTags.IFD.Exif), "Photo"),
        (exif.get_ifd(ExifTags.IFD.GPSInfo), "GPSInfo"),
    )
    for ifd, group in ifds:
        names = ExifTags.GPSTAGS if group == "GPSInfo" else ExifTags.TAGS
        for k, v in ifd.items():
            if isinstance(v, tuple):
                v = " ".join(f"{float(x)}/1" for x in v)
            tags[f"Exif.{group}.{names.get(k, k)}"] = str(v)
    return {"exif": tags, "xmp": {"raw": xmp.decode("utf-8", "replace")} if xmp else {}, "iptc": {}}


@dataclass
class Capture:
    local: dt.datetime | None
    utc: dt.datetime | None
    basis: str  # how the UTC time was found
    zone: str | None
    note: str = ""


def capture_time(exif: dict[str, str], lat: float | None, lon: float | None) -> Capture:
    """The capture time as local wall clock and as UTC, saying how the zone was found."""
    local = _exif_datetime(exif.get("Exif.Photo.DateTimeOriginal") or exif.get("Exif.Image.DateTimeOriginal"))
    if local is None:
        return Capture(None, None, "no EXIF capture time", None)
    offset = _offset(exif.get("Exif.Photo.OffsetTimeOriginal"))
    if offset is not None:
        return Capture(
            local, local.replace(tzinfo=offset).astimezone(dt.UTC), "EXIF OffsetTimeOriginal", str(offset)
        )
    if lat is not None and lon is not None:
        zone = zone_at(lat, lon)
        if zone:
            try:
                utc, note = local_to_utc(local, zone)
                return Capture(local, utc, "time zone at the GPS point", zone, note)
            except ZoneInfoNotFoundError:
                pass
    return Capture(local, None, "local time with no zone (no offset tag, no usable GPS point)", None)


def _gps_utc(exif: dict[str, str]) -> dt.datetime | None:
    date, time = exif.get("Exif.GPSInfo.GPSDateStamp"), exif.get("Exif.GPSInfo.GPSTimeStamp")
    if not date or not time:
        return None
    try:
        h, m, s = (_rational(p) for p in time.split())
        day = dt.datetime.strptime(date.strip(), "%Y:%m:%d")
    except ValueError:
        return None
    return (day + dt.timedelta(hours=h, minutes=m, seconds=s)).replace(tzinfo=dt.UTC)


def _iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    return t.isoformat().replace("+00:00", "Z")


def metadata(ctx: CheckContext) -> CheckResult:
    """Maker, software, edit history, GPS and capture time (local and UTC); flags signs of editing."""
    if not ctx.is_image():
        return not_applicable("metadata", ctx.evidence, METHOD_ID)
    data = ctx.data()
    spans = _xmp_spans(data)
    if sum(spans) > MAX_XMP_BYTES:
        raise ctx.fail(
            "metadata",
            f"XMP metadata of {sum(spans):,} bytes is over the {MAX_XMP_BYTES:,}-byte limit; not parsed",
        )
    tags = read_tags(data, ctx.name, lambda msg: ctx.fail("metadata", msg))
    exif, xmp, iptc = tags["exif"], tags["xmp"], tags["iptc"]
    if not (exif or xmp or iptc):
        return CheckResult(
            "metadata",
            "absent",
            f"{ctx.name} has no EXIF, XMP or IPTC metadata (check metadata); most platforms strip it, "
            "so this proves nothing.",
            method=METHOD_ID,
        )
    lat = _dms(exif.get("Exif.GPSInfo.GPSLatitude"), exif.get("Exif.GPSInfo.GPSLatitudeRef"))
    lon = _dms(exif.get("Exif.GPSInfo.GPSLongitude"), exif.get("Exif.GPSInfo.GPSLongitudeRef"))
    cap = capture_time(exif, lat, lon)
    gps_utc = _gps_utc(exif)
    software = [s for s in (exif.get("Exif.Image.Software"), xmp.get("Xmp.xmp.CreatorTool")) if s]
    history = {
        k: v
        for k, v in xmp.items()
        if k.startswith(("Xmp.xmpMM.History", "Xmp.photoshop.History", "Xmp.xmpMM.DerivedFrom"))
    }
    signs: list[str] = []
    for s in software:
        if EDIT_SOFTWARE.search(s):
            signs.append(f"written by editing software ({s})")
    if history:
        signs.append(f"{len(history)} XMP edit-history field(s)")
    modified = _exif_datetime(exif.get("Exif.Image.DateTime"))
    if cap.local and modified and abs((modified - cap.local).total_seconds()) > 60:
        signs.append(f"modified {modified:%Y-%m-%d %H:%M} after capture {cap.local:%Y-%m-%d %H:%M}")
    if cap.utc and gps_utc and abs((cap.utc - gps_utc).total_seconds()) > 3600:
        hours = (cap.utc - gps_utc).total_seconds() / 3600
        signs.append(f"camera clock and GPS time differ by {hours:+.1f} h")
    details: dict[str, Any] = {
        "make": exif.get("Exif.Image.Make"),
        "model": exif.get("Exif.Image.Model"),
        "software": software,
        "edit_history": history,
        "capture_local": cap.local.isoformat() if cap.local else None,
        "capture_utc": _iso(cap.utc),
        "capture_basis": cap.basis,
        "time_zone": cap.zone,
        "time_note": cap.note,
        "gps_utc": _iso(gps_utc),
        "gps": {"lat": lat, "lon": lon} if lat is not None and lon is not None else None,
        "signs_of_editing": signs,
        "iptc": {k: v for k, v in iptc.items() if len(v) < 500},
        "exif": {k: v for k, v in exif.items() if len(v) < 500},
        "xmp": {k: v for k, v in xmp.items() if len(v) < 500},
    }
    who = " ".join(p for p in (details["make"], details["model"]) if p) or "unknown camera"
    when = f"captured {details['capture_utc']} ({cap.basis})" if cap.utc else f"capture time: {cap.basis}"
    where = f"GPS {lat:.5f}, {lon:.5f}" if details["gps"] else "no GPS"
    summary = (
        f"{who}; {when}; {where}"
        + (f"; {'; '.join(signs)}" if signs else "")
        + ". Metadata can be rewritten by anyone."
    )
    return CheckResult(
        "metadata",
        "flagged" if signs else "ok",
        summary,
        score=float(len(signs)),
        details=details,
        method=METHOD_ID,
    )


# -- against a claim ------------------------------------------------------------------


@dataclass(frozen=True)
class Contradiction:
    kind: str  # "date" or "place"
    message: str
    details: dict[str, Any]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def contradictions(check_result: CheckResult, claim: Claim, *, max_km: float = 50.0) -> list[Contradiction]:
    """Where a picture's metadata disagrees with a claim: capture day outside its dates, GPS far from its places.

    The capture day is the local day when known (claims give local days), else the UTC day with a day's
    slack either side. Metadata is unverified: a contradiction is a question for the analyst.
    """
    if check_result.check != "metadata" or check_result.status not in ("ok", "flagged"):
        return []
    d = check_result.details
    out: list[Contradiction] = []
    day, slack = None, 0
    if d.get("capture_local"):
        day = dt.date.fromisoformat(d["capture_local"][:10])
    elif d.get("capture_utc"):
        day, slack = dt.date.fromisoformat(d["capture_utc"][:10]), 1
    if day and (claim.date_from or claim.date_to):
        lo = dt.date.fromisoformat(claim.date_from) if claim.date_from else dt.date.min
        hi = dt.date.fromisoformat(claim.date_to) if claim.date_to else dt.date.max
        if day < lo - dt.timedelta(days=slack) or day > hi + dt.timedelta(days=slack):
            out.append(
                Contradiction(
                    "date",
                    f"EXIF capture day {day} is outside the claim's dates {claim.dates}",
                    {"capture_day": day.isoformat(), "date_from": claim.date_from, "date_to": claim.date_to},
                )
            )
    gps = d.get("gps")
    if gps and claim.places:
        distances = {
            p.resolved_name or p.name: haversine_km(gps["lat"], gps["lon"], p.lat, p.lon)
            for p in claim.places
        }
        nearest = min(distances, key=distances.get)
        if distances[nearest] > max_km:
            out.append(
                Contradiction(
                    "place",
                    f"EXIF GPS point is {distances[nearest]:.0f} km from the nearest claimed place ({nearest}), "
                    f"over {max_km:.0f} km",
                    {"distances_km": {k: round(v, 1) for k, v in distances.items()}, "max_km": max_km},
                )
            )
    return out


def stored_metadata(ws: Workspace, sha256: str) -> dict[str, Any]:
    """The metadata check's findings (GPS, UTC capture time...) for a stored evidence file."""
    with ws.session() as s:
        return metadata(CheckContext(ws, ws.evidence(sha256), s)).details
