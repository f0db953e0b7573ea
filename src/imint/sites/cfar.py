"""Two-parameter CFAR ship detection, tiled so that a whole Sentinel-1 scene runs in bounded memory.

Like ESA SNAP's *AdaptiveThresholding*: for every pixel the mean of a small *target* window is compared
with the mean and standard deviation of a *background* ring (the background window minus a *guard*
window large enough to hold the biggest ship):

    z = (mean_target - mean_background) / std_background,   ship pixel when z > t,  t = Phi^-1(1 - PFA)

Window sizes are in metres, converted with the scene's pixel size. Land (an automatic water mask, or a
GeoJSON coastline file) and nodata are left out of the statistics and of the detections.
Hit pixels are optionally grown over connected pixels above a lower ``grow_z`` (hysteresis), dilated and
grouped into objects (boxes and areas are those of the grown, dilated groups);
a size filter drops specks and land-sized blobs; each object's confidence is a logistic of how far
its peak ``z`` clears the threshold (0.5 at the threshold).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from scipy.stats import norm

from imint.errors import BadInputError
from imint.records import Detections
from imint.sites.geo import RasterInfo, iter_tiles, read_overview, read_window

DETECTOR_ID = "cfar-2p-v1"


@dataclass(frozen=True)
class CfarParams:
    """Windows in metres (SNAP's defaults), a false-alarm rate and a ship size range."""

    target_m: float = 30.0
    guard_m: float = 500.0
    background_m: float = 800.0
    pfa: float = 10**-6.5
    min_area_px: int = 2
    min_length_m: float = 10.0
    max_length_m: float = 600.0
    dilation_px: int = 1
    tile_px: int = 1024
    grow_z: float | None = None  # hysteresis: an object is every pixel above grow_z joined to a hit

    @property
    def grow_threshold(self) -> float | None:
        return None if self.grow_z is None else min(float(self.grow_z), self.threshold)

    @property
    def threshold(self) -> float:
        return float(norm.isf(self.pfa))

    def windows_px(self, pixel_size_m: float) -> tuple[int, int, int]:
        """Odd window sides in pixels: target, guard, background (background > guard > target)."""

        def odd(v: float) -> int:
            n = max(1, int(round(v)))
            return n if n % 2 else n + 1

        target = odd(self.target_m / pixel_size_m)
        guard = max(odd(self.guard_m / pixel_size_m), target + 2)
        background = max(odd(self.background_m / pixel_size_m), guard + 4)
        return target, guard, background

    @classmethod
    def for_chips(cls) -> CfarParams:
        """8-bit chips in pixel units, tuned on the dev part of the honest split (docs/sites.md):
        3 x 3 target, guard 81, background 121, z > 6 grown over z > 3.5, dilation 3, >= 100 px."""
        return cls(
            target_m=3,
            guard_m=81,
            background_m=121,
            pfa=float(norm.sf(6.0)),
            min_area_px=100,
            min_length_m=0,
            max_length_m=1e9,
            dilation_px=3,
            grow_z=3.5,
        )

    @classmethod
    def baseline_chips(cls) -> CfarParams:
        """The project-start baseline for chips: guard 61, background 101, z > 7, dilation 3, >= 100 px."""
        return cls(
            target_m=1,
            guard_m=61,
            background_m=101,
            pfa=float(norm.sf(7.0)),
            min_area_px=100,
            min_length_m=0,
            max_length_m=1e9,
            dilation_px=3,
        )

    @classmethod
    def pixel_mode(cls, dtype: str = "uint8") -> CfarParams:
        """Scenes of unknown pixel size. An 8-bit raster is a chip like the dev chips the tuning used,
        so it gets :meth:`for_chips`; any other type (a calibrated scene whose CRS is missing) keeps the
        chip baseline's windows with a 4 px minimum, since the >= 100 px rule was tuned on 1-15 m chips
        and would drop the few-pixel ships of a 10-40 m scene."""
        if dtype == "uint8":
            return cls.for_chips()
        return cls(
            target_m=1,
            guard_m=61,
            background_m=101,
            min_area_px=4,
            min_length_m=0,
            max_length_m=1e9,
            dilation_px=3,
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _box_sum(a: np.ndarray, k: int) -> np.ndarray:
    return cv2.boxFilter(a, cv2.CV_32F, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)


def z_map(image: np.ndarray, valid: np.ndarray, target: int, guard: int, background: int) -> np.ndarray:
    """CFAR statistic per pixel (float32); NaN where the background ring has too few valid pixels."""
    # Centre the values on their median first: the variance is unchanged, and float32 sums of
    # squares then keep their precision (no cancellation of two large numbers).
    level = float(np.median(image[valid])) if valid.any() else 0.0
    v = np.where(valid, image - level, 0).astype(np.float32)
    m = valid.astype(np.float32)
    v2 = v * v
    n = _box_sum(m, background) - _box_sum(m, guard)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (_box_sum(v, background) - _box_sum(v, guard)) / n
        var = (_box_sum(v2, background) - _box_sum(v2, guard)) / n
        var -= mean * mean
        np.maximum(var, 1e-12, out=var)
        t_mean = _box_sum(v, target) / _box_sum(m, target) if target > 1 else v
        z = (t_mean - mean) / np.sqrt(var)
    z[(n < 0.25 * (background * background - guard * guard)) | ~valid] = np.nan
    return z.astype(np.float32, copy=False)


def _objects(
    z: np.ndarray, threshold: float, params: CfarParams, pixel_size_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (x1, y1, x2, y2 exclusive), peak z and pixel area of each object in a z map."""
    with np.errstate(invalid="ignore"):
        hits = z > threshold  # NaN (land, nodata, edges) is never a hit
    if not hits.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    grouped = hits
    if params.grow_threshold is not None:
        # A ship's ends and edges are dimmer than its peak: grow each hit over the pixels above a lower
        # threshold connected to it, so the box covers the hull (IoU), not only its brightest part.
        with np.errstate(invalid="ignore"):
            low = z > params.grow_threshold
        low_labels, _ = ndimage.label(low, structure=np.ones((3, 3)))
        grouped = np.isin(low_labels, np.unique(low_labels[hits])) & low
    if params.dilation_px > 1:
        grouped = cv2.dilate(grouped.astype(np.uint8), np.ones((params.dilation_px,) * 2, np.uint8)) > 0
    # Objects, their boxes and areas come from the dilated mask: the hit pixels alone under-state a
    # ship's extent (its ends and edges are dimmer); the peak z comes from the hits themselves.
    labels, n = ndimage.label(grouped, structure=np.ones((3, 3)))
    index = np.arange(1, n + 1)
    area = ndimage.sum_labels(grouped, labels, index).astype(np.int64)
    peak = ndimage.maximum(np.where(hits, z, -np.inf), labels, index).astype(np.float32)
    slices = ndimage.find_objects(labels, max_label=n)
    boxes = np.zeros((n, 4), np.float32)
    for i, sl in enumerate(slices):
        if sl is not None:
            boxes[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    length_m = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * pixel_size_m
    keep = (
        (area >= params.min_area_px) & (length_m >= params.min_length_m) & (length_m <= params.max_length_m)
    )
    return boxes[keep], peak[keep], area[keep]


def confidence(peak_z: np.ndarray, threshold: float) -> np.ndarray:
    """0.5 at the threshold, towards 1 as the peak clears it (a ranking score, not a probability)."""
    return (1.0 / (1.0 + np.exp(-(peak_z - threshold) / 2.0))).astype(np.float32)


def detect_array(
    image: np.ndarray,
    params: CfarParams | None = None,
    *,
    pixel_size_m: float = 1.0,
    water: np.ndarray | None = None,
) -> Detections:
    """CFAR on one in-memory single-band image (NaN = nodata); ``water`` False marks land."""
    params = params or CfarParams()
    image = np.asarray(image, np.float32)
    if image.ndim == 3:
        image = image.mean(axis=2)
    valid = np.isfinite(image)
    if water is not None:
        valid &= water
    target, guard, background = params.windows_px(pixel_size_m)
    z = z_map(image, valid, target, guard, background)
    boxes, peak, _ = _objects(z, params.threshold, params, pixel_size_m)
    return Detections(
        boxes=boxes,
        scores=confidence(peak, params.threshold),
        class_names=["ship"] * len(boxes),
        detector_id=DETECTOR_ID,
    )


# --------------------------------------------------------------------------------- water masks


def auto_water_mask(overview: np.ndarray, overview_pixel_m: float, *, buffer_m: float = 150.0) -> np.ndarray:
    """Water (True) / land (False) from a decimated scene: land is large, bright and textured.

    The log-brightness, smoothed over ~300 m, is split with Otsu's threshold; bright regions smaller
    than 0.5 km^2 are kept as water (they are ships or ship clusters, not land); land is buffered so
    the bright shore does not leak into the background statistics.
    """
    valid = np.isfinite(overview)
    if valid.sum() < 16:
        return valid
    log = np.log1p(np.where(valid, np.maximum(overview, 0), 0))
    sigma = max(300.0 / overview_pixel_m, 1.0)
    blur = (0, 0)
    smooth = cv2.GaussianBlur(log.astype(np.float32), blur, sigma) / np.maximum(
        cv2.GaussianBlur(valid.astype(np.float32), blur, sigma), 1e-6
    )
    values = smooth[valid][:: max(1, int(valid.sum()) // 500_000)]  # a sample is enough for levels
    lo, hi = np.percentile(values, [1, 99.5])
    if hi - lo < 1e-6:
        return valid
    u8 = np.clip((smooth - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(u8[valid], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    otsu_log = lo + float(otsu) / 255 * (hi - lo)
    sea_log = float(np.percentile(values, 20))  # most scenes of a port are at least 20 % sea
    # A scene that is all sea has no real second mode: land must also be clearly brighter than
    # the sea (amplitude x1.6, about 4 dB), not just the brighter half of the sea's own texture.
    threshold = max(otsu_log, sea_log + math.log(1.6))
    land = (smooth > threshold) & valid
    labels, n = ndimage.label(land)
    if n:
        sizes = ndimage.sum_labels(land, labels, np.arange(1, n + 1))
        min_px = 0.5e6 / (overview_pixel_m**2)
        land = np.isin(labels, np.flatnonzero(sizes >= min_px) + 1)
    if buffer_m > 0 and land.any():
        r = max(1, int(round(buffer_m / overview_pixel_m)))
        land = (
            cv2.dilate(land.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
            > 0
        )
    return valid & ~land


def load_land_shapes(info: RasterInfo, land_path: Path) -> list[dict]:
    """Land polygons of a GeoJSON file (EPSG:4326), reprojected to the scene's CRS."""
    import json

    from pyproj import Transformer
    from pyproj.exceptions import ProjError
    from shapely.errors import ShapelyError
    from shapely.geometry import mapping, shape
    from shapely.ops import transform as shp_transform

    if not info.georeferenced:
        raise BadInputError("a land-mask file needs a georeferenced scene", subject=info.path)
    try:
        data = json.loads(Path(land_path).read_text())
        feats = data.get("features", [data]) if isinstance(data, dict) else []
        to_crs = Transformer.from_crs("EPSG:4326", info.crs, always_xy=True).transform
        return [mapping(shp_transform(to_crs, shape(f.get("geometry", f)))) for f in feats if f]
    except (
        OSError,
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        ShapelyError,
        ProjError,
    ) as exc:
        # ShapelyError: an unknown geometry type or a ring of too few points (found by tests/test_fuzz_sites.py)
        raise BadInputError(f"not a readable GeoJSON land mask ({exc})", subject=land_path) from exc


def vector_water_mask(info: RasterInfo, shapes: list[dict], window: tuple[int, int, int, int]) -> np.ndarray:
    """Water (True) of a window: pixels outside every land polygon."""
    from rasterio.features import geometry_mask
    from rasterio.transform import Affine

    col0, row0, col1, row1 = window
    if not shapes:
        return np.ones((row1 - row0, col1 - col0), bool)
    t = Affine(*info.transform) * Affine.translation(col0, row0)
    return geometry_mask(shapes, out_shape=(row1 - row0, col1 - col0), transform=t, invert=False)


# ------------------------------------------------------------------------------------- rasters


def detect_raster(
    info: RasterInfo,
    params: CfarParams | None = None,
    *,
    land_mask: str | Path | None = "auto",
    band: int | None = 1,
    pixel_size_m: float | None = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> Detections:
    """CFAR over a whole raster in tiles (float32, memory bounded by the tile size).

    Each tile is read with a margin of half a background window plus the longest ship, and only
    objects whose centre falls in the tile's core are kept, so nothing is found twice or cut in two.
    """
    px = pixel_size_m or info.pixel_size_m
    if params is None:
        params = CfarParams() if px else CfarParams.pixel_mode(info.dtype)
    px = px or 1.0
    _, _, background = params.windows_px(px)
    margin = background // 2 + int(math.ceil(params.max_length_m / px)) + params.dilation_px + 2
    margin = min(margin, background // 2 + 512)
    water_overview, ov_scale = None, 1.0
    if land_mask == "auto":
        # A ~50 m grid is plenty for a coastline and keeps the mask cheap at any scene size.
        side = int(min(4096, max(64, math.ceil(max(info.width, info.height) * px / 50.0))))
        overview, ov_scale = read_overview(info, max_side=side)
        water_overview = auto_water_mask(overview, px / ov_scale)
    land_shapes = None
    if land_mask not in (None, "none", "auto"):
        land_shapes = load_land_shapes(info, Path(land_mask))
    all_boxes, all_scores = [], []
    tiles = list(iter_tiles(info.width, info.height, params.tile_px, margin))
    for i, (cx0, cy0, cx1, cy1, px0, py0) in enumerate(tiles):
        wx0, wy0 = cx0 - px0, cy0 - py0
        wx1, wy1 = min(cx1 + margin, info.width), min(cy1 + margin, info.height)
        image = read_window(info, wx0, wy0, wx1, wy1, band=band)
        water = None
        if water_overview is not None:
            oy0, oy1 = int(wy0 * ov_scale), max(int(math.ceil(wy1 * ov_scale)), int(wy0 * ov_scale) + 1)
            ox0, ox1 = int(wx0 * ov_scale), max(int(math.ceil(wx1 * ov_scale)), int(wx0 * ov_scale) + 1)
            patch = water_overview[oy0:oy1, ox0:ox1].astype(np.uint8)
            # Map every tile pixel to its overview cell (nearest), exactly, whatever the rounding.
            rows = np.clip(((np.arange(wy0, wy1) + 0.5) * ov_scale).astype(int) - oy0, 0, patch.shape[0] - 1)
            cols = np.clip(((np.arange(wx0, wx1) + 0.5) * ov_scale).astype(int) - ox0, 0, patch.shape[1] - 1)
            water = patch[rows][:, cols] > 0
        elif land_shapes is not None:
            water = vector_water_mask(info, land_shapes, (wx0, wy0, wx1, wy1))
        found = detect_array(image, params, pixel_size_m=px, water=water)
        if len(found):
            b = found.boxes + np.array([wx0, wy0, wx0, wy0], np.float32)
            cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
            core = (cx >= cx0) & (cx < cx1) & (cy >= cy0) & (cy < cy1)
            all_boxes.append(b[core])
            all_scores.append(found.scores[core])
        if on_tile:
            on_tile(i + 1, len(tiles))
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4), np.float32)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0, np.float32)
    return Detections(boxes=boxes, scores=scores, class_names=["ship"] * len(boxes), detector_id=DETECTOR_ID)
