"""Rasters and coordinates: open a scene, its pixel size in metres, pixel boxes to EPSG:4326.

Every geometry leaving this module is GeoJSON in EPSG:4326 (lon, lat order); distances are metres.
A scene without a CRS is handled in *pixel mode*: detections keep their pixel boxes, no geometry.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from imint.errors import BadInputError, ValidationError

# Past this many pixels a raster is never read whole: it is streamed in tiles.
WHOLE_READ_LIMIT = 64_000_000
EARTH_RADIUS_M = 6_371_008.8


class PixelModeWarning(UserWarning):
    """A scene has no usable georeference: it is used in pixel coordinates only."""


@dataclass
class RasterInfo:
    """What imint needs to know about a raster before reading any pixel."""

    path: Path
    width: int
    height: int
    bands: int
    dtype: str
    crs: str | None = None
    transform: tuple[float, ...] | None = None  # affine a, b, c, d, e, f (x = a*col + b*row + c)
    nodata: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    driver: str = ""
    pixel_size_m: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and self.transform is not None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def _warn(info: RasterInfo, message: str) -> None:
    info.warnings.append(message)
    warnings.warn(f"{info.path.name}: {message}", PixelModeWarning, stacklevel=3)


def open_raster(path: str | Path) -> RasterInfo:
    """Read a raster's header (GeoTIFF, or a PNG/JPEG chip); refuse what is not a raster, by name."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    p = Path(path)
    if not p.is_file():
        raise BadInputError("no such file", subject=p)
    if p.stat().st_size == 0:
        raise BadInputError("empty file (0 bytes)", subject=p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as ds:
                info = RasterInfo(
                    path=p,
                    width=ds.width,
                    height=ds.height,
                    bands=ds.count,
                    dtype=ds.dtypes[0] if ds.count else "",
                    crs=ds.crs.to_string() if ds.crs else None,
                    transform=tuple(ds.transform)[:6],
                    nodata=ds.nodata,
                    tags={k: str(v) for k, v in ds.tags().items()},
                    driver=ds.driver,
                )
                a, b, _, d, e, _ = tuple(ds.transform)[:6]
                if ds.crs is not None and (
                    abs(b) > 1e-9 * abs(a or e or 1) or abs(d) > 1e-9 * abs(e or a or 1)
                ):
                    # Pixel sizes, tiles, overlays and area masks all assume a north-up grid.
                    raise BadInputError(
                        f"rotated or sheared geotransform (row/column terms {b:g}, {d:g}): not supported; "
                        "warp the scene to a north-up grid first (e.g. gdalwarp)",
                        subject=p,
                    )
                if ds.crs is not None and ds.crs.is_geographic:
                    info.pixel_size_m = (
                        abs(ds.transform.a)
                        * math.pi
                        / 180
                        * EARTH_RADIUS_M
                        * math.cos(math.radians((ds.bounds.top + ds.bounds.bottom) / 2))
                    )
                elif ds.crs is not None:
                    unit = ds.crs.linear_units_factor[1] if ds.crs.linear_units else 1.0
                    info.pixel_size_m = math.sqrt(abs(ds.transform.a * ds.transform.e)) * unit
    except RasterioIOError as exc:
        raise BadInputError(f"not a readable raster ({str(exc)[:160]})", subject=p) from exc
    if info.width == 0 or info.height == 0 or info.bands == 0:
        raise BadInputError(f"empty raster ({info.width} x {info.height} px, {info.bands} bands)", subject=p)
    if info.dtype not in ("uint8", "uint16", "int16", "uint32", "int32", "float32", "float64"):
        raise BadInputError(
            f"unsupported pixel type {info.dtype!r} (complex SLC is not supported)", subject=p
        )
    check_readable(info)
    if info.crs is None:
        info.transform = None
        if info.driver == "GTiff":
            _warn(info, "GeoTIFF has no CRS: pixel mode, detections get no map coordinates")
        else:
            _warn(info, f"{info.driver} chip without georeference: pixel mode, no map coordinates")
    return info


def check_readable(info: RasterInfo) -> None:
    """Decode the first and the last block: a truncated or corrupt file fails here, before ingest."""
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(info.path) as ds:
                bh, bw = ds.block_shapes[0]
                ds.read(1, window=Window(0, 0, min(bw, ds.width), min(bh, ds.height)))
                last_r, last_c = ((ds.height - 1) // bh) * bh, ((ds.width - 1) // bw) * bw
                ds.read(ds.count, window=Window(last_c, last_r, ds.width - last_c, ds.height - last_r))
    except RasterioError as exc:
        raise BadInputError(f"raster is truncated or corrupt ({str(exc)[:160]})", subject=info.path) from exc


def iter_tiles(
    width: int, height: int, tile: int, margin: int
) -> Iterator[tuple[int, int, int, int, int, int]]:
    """Tiles covering a raster: (col0, row0, col1, row1) of the core plus the margin-padded window.

    Yields ``(cx0, cy0, cx1, cy1, pad_x0, pad_y0)`` where the read window is
    ``[cx0 - pad_x0, cy0 - pad_y0]`` to ``[min(cx1 + margin, width), min(cy1 + margin, height)]``.
    """
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            yield x0, y0, min(x0 + tile, width), min(y0 + tile, height), min(margin, x0), min(margin, y0)


@contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    from rasterio.errors import RasterioError

    try:
        yield
    except RasterioError as exc:
        raise BadInputError(f"cannot read pixels ({str(exc)[:160]})", subject=path) from exc


def read_window(
    info: RasterInfo, col0: int, row0: int, col1: int, row1: int, band: int | None = None
) -> np.ndarray:
    """Pixels of a window as float32 (one band, or the band mean), nodata as NaN."""
    import rasterio
    from rasterio.windows import Window

    with warnings.catch_warnings(), _read_errors(info.path):
        warnings.simplefilter("ignore")
        with rasterio.open(info.path) as ds:
            window = Window(col0, row0, col1 - col0, row1 - row0)
            if band is not None or ds.count == 1:
                data = ds.read(band or 1, window=window).astype(np.float32)
                valid = ds.read_masks(band or 1, window=window) > 0 if info.nodata is not None else None
            else:
                stack = ds.read(window=window).astype(np.float32)
                data = stack[:3].mean(axis=0) if ds.count >= 3 else stack.mean(axis=0)
                valid = ds.read_masks(1, window=window) > 0 if info.nodata is not None else None
    if valid is not None:
        data[~valid] = np.nan
    return data


def read_overview(info: RasterInfo, max_side: int = 2048) -> tuple[np.ndarray, float]:
    """A decimated single-band float32 view of the whole raster and its scale factor (<= 1)."""
    import rasterio
    from rasterio.enums import Resampling

    scale = min(1.0, max_side / max(info.width, info.height))
    out_w, out_h = max(1, round(info.width * scale)), max(1, round(info.height * scale))
    with warnings.catch_warnings(), _read_errors(info.path):
        warnings.simplefilter("ignore")
        with rasterio.open(info.path) as ds:
            bands = [1] if ds.count < 3 else [1, 2, 3]
            data = ds.read(bands, out_shape=(len(bands), out_h, out_w), resampling=Resampling.average)
            data = data.astype(np.float32).mean(axis=0)
            if info.nodata is not None:
                mask = ds.read_masks(1, out_shape=(out_h, out_w)) > 0
                data[~mask] = np.nan
    return data, scale


# ------------------------------------------------------------------------------- coordinates


@lru_cache(maxsize=32)
def _to_wgs84(crs: str):  # noqa: ANN202 - a pyproj Transformer
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


@lru_cache(maxsize=32)
def _from_wgs84(crs: str):  # noqa: ANN202
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def pixel_to_lonlat(
    crs: str, transform: tuple[float, ...], cols: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (col, row; 0,0 = top-left corner of the first pixel) to lon, lat."""
    a, b, c, d, e, f = transform[:6]
    cols, rows = np.asarray(cols, np.float64), np.asarray(rows, np.float64)
    x, y = a * cols + b * rows + c, d * cols + e * rows + f
    lon, lat = _to_wgs84(crs).transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def lonlat_to_pixel(
    crs: str, transform: tuple[float, ...], lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``pixel_to_lonlat``."""
    a, b, c, d, e, f = transform[:6]
    x, y = _from_wgs84(crs).transform(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    det = a * e - b * d
    x, y = np.asarray(x) - c, np.asarray(y) - f
    return (e * x - b * y) / det, (-d * x + a * y) / det


def box_polygons(crs: str, transform: tuple[float, ...], boxes: np.ndarray) -> list[dict[str, Any]]:
    """GeoJSON Polygons (EPSG:4326) of pixel boxes x1, y1, x2, y2."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    corners_c = np.stack([boxes[:, 0], boxes[:, 2], boxes[:, 2], boxes[:, 0], boxes[:, 0]], 1)
    corners_r = np.stack([boxes[:, 1], boxes[:, 1], boxes[:, 3], boxes[:, 3], boxes[:, 1]], 1)
    lon, lat = pixel_to_lonlat(crs, transform, corners_c.ravel(), corners_r.ravel())
    lon, lat = lon.reshape(-1, 5), lat.reshape(-1, 5)
    return [
        {
            "type": "Polygon",
            "coordinates": [[[round(float(x), 7), round(float(y), 7)] for x, y in zip(lo, la, strict=True)]],
        }
        for lo, la in zip(lon, lat, strict=True)
    ]


def footprint(info: RasterInfo) -> dict[str, Any] | None:
    if not info.georeferenced:
        return None
    return box_polygons(info.crs, info.transform, np.array([[0, 0, info.width, info.height]]))[0]


def haversine_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (broadcasting)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, np.float64)) for v in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def circle_polygon(lon: float, lat: float, radius_m: float, n: int = 64) -> dict[str, Any]:
    """A geodesic circle as a GeoJSON Polygon (EPSG:4326)."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    az = np.linspace(0, 360, n, endpoint=False)
    lons, lats, _ = geod.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_m))
    ring = [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lons, lats, strict=True)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def utm_crs_for(lon: float, lat: float) -> str:
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def latlon_bounds(geometries: list[dict[str, Any] | None]) -> list[list[float]] | None:
    """[[south, west], [north, east]] around GeoJSON geometries (lon, lat), as Leaflet's fitBounds takes it."""
    from shapely.geometry import shape
    from shapely.ops import unary_union

    shapes = [shape(g) for g in geometries if g]
    if not shapes:
        return None
    w, s, e, n = unary_union(shapes).bounds
    return [[s, w], [n, e]]


def map_window(
    bounds: list[list[float]], *, margin_deg: float, max_span_deg: float, layer: str
) -> tuple[float, float, float, float]:
    """``[[south, west], [north, east]]`` widened by ``margin_deg`` and clamped to the globe, as
    (south, west, north, east); refused when empty or wider than ``max_span_deg`` (a map layer of
    ``layer``, e.g. "coastlines", is drawn for one site's surroundings, not a continent)."""
    (south, west), (north, east) = bounds
    south, north = max(south - margin_deg, -90.0), min(north + margin_deg, 90.0)
    west, east = max(west - margin_deg, -180.0), min(east + margin_deg, 180.0)
    if not (south < north and west < east) or north - south > max_span_deg or east - west > max_span_deg:
        raise ValidationError(
            f"{layer} are drawn for at most {max_span_deg}° x {max_span_deg}° (got {bounds})",
            subject="bounds",
        )
    return south, west, north, east
