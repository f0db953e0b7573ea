"""Metadata readers: EXIF for photos, stream info for video, georeference for rasters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import ExifTags, Image

from imint.media.sniff import IMAGE_SUFFIXES, RASTER_SUFFIXES, VIDEO_SUFFIXES, sniff_kind

__all__ = ["IMAGE_SUFFIXES", "RASTER_SUFFIXES", "VIDEO_SUFFIXES", "read_metadata", "sniff_kind"]


def _exif(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        with Image.open(path) as img:
            out["width"], out["height"] = img.size
            out["mode"] = img.mode
            out["format"] = img.format
            exif = img.getexif()
    except Exception:  # noqa: BLE001 - unreadable metadata is not an ingest failure
        return out
    if not exif:
        return out
    tags = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.items()}
    try:
        tags.update({ExifTags.TAGS.get(k, str(k)): v for k, v in exif.get_ifd(ExifTags.IFD.Exif).items()})
    except Exception:  # noqa: BLE001
        pass
    for key in ("DateTimeOriginal", "DateTime", "Make", "Model", "Orientation", "Software", "Artist"):
        if key in tags:
            out[f"exif_{key}"] = str(tags[key])
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        if gps:
            lat = _dms(gps.get(2), gps.get(1))
            lon = _dms(gps.get(4), gps.get(3))
            if lat is not None and lon is not None:
                out["gps_lat"], out["gps_lon"] = lat, lon
    except Exception:  # noqa: BLE001
        pass
    return out


def _dms(value: Any, ref: Any) -> float | None:
    if not value:
        return None
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    deg = d + m / 60 + s / 3600
    return -deg if str(ref).upper() in ("S", "W") else deg


def _video(path: Path) -> dict[str, Any]:
    try:
        import av
    except ImportError:
        return {}
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            out: dict[str, Any] = {
                "duration": float(container.duration / 1e6) if container.duration else None
            }
            vs = [s for s in container.streams if s.type == "video"]
            if vs:
                s = vs[0]
                out.update(
                    width=s.codec_context.width,
                    height=s.codec_context.height,
                    codec=s.codec_context.name,
                    fps=float(s.average_rate) if s.average_rate else None,
                    frames=s.frames or None,
                )
            created = container.metadata.get("creation_time")
            if created:
                out["creation_time"] = created
            return out
    except Exception as exc:  # noqa: BLE001 - the video part reports decoding errors itself
        return {"metadata_error": str(exc)[:200]}


def _raster(path: Path) -> dict[str, Any]:
    try:
        import rasterio
    except ImportError:
        return {}
    try:
        with rasterio.open(path) as ds:
            return {
                "width": ds.width,
                "height": ds.height,
                "bands": ds.count,
                "dtype": ds.dtypes[0] if ds.dtypes else None,
                "crs": ds.crs.to_string() if ds.crs else None,
                "transform": list(ds.transform)[:6] if ds.crs else None,
                "nodata": ds.nodata,
                "tags": {k: v for k, v in ds.tags().items() if len(str(v)) < 200},
            }
    except Exception as exc:  # noqa: BLE001
        return {"metadata_error": str(exc)[:200]}


def read_metadata(path: Path, kind: str) -> dict[str, Any]:
    if kind == "image":
        return _exif(path)
    if kind == "video":
        return _video(path)
    if kind == "raster":
        meta = _raster(path)
        return meta or _exif(path)
    return {}
