"""Ships in multispectral optical scenes (Sentinel-2, Landsat 8/9): NDWI water mask + local contrast.

* Water: NDWI = (green - NIR) / (green + NIR) > ``ndwi_threshold`` (McFeeters 1996). A ship is bright in
  NIR, so its own pixels fail the test; holes in the water smaller than the largest ship are filled back
  as water (the same reasoning as the SAR land mask: small bright islands in the sea are targets).
  The water is eroded by ``shore_buffer_m`` so mixed shoreline pixels are not read as contrast.
* Target: NIR + red (a hull is bright in both, water is dark in both), compared with the mean and spread
  of a background ring *on water only* (the CFAR statistic of :mod:`imint.sites.cfar`, windows in metres).
  Pixels above ``z`` grow over connected pixels above ``grow_z``; objects shorter than
  ``min_length_m`` or longer than ``max_length_m`` are dropped.

Sentinel-2 (10 m) resolves ships from ~30 m (3 px); Landsat (30 m) only from ~60-90 m. Clouds over water,
wakes, sun glint and surf are the known false alarms; very-high-resolution RGB chips (no NIR, < 1 m)
are not supported (see docs/sites.md). Returns the same :class:`imint.records.Detections` as the SAR
detectors; :func:`detection_features` georeferences them through the scene transform.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from imint.errors import BadInputError, ValidationError
from imint.records import Detections
from imint.sites import cfar, geo

DETECTOR_ID = "optical-ndwi-contrast-v1"
NEEDED = ("green", "red", "nir")
# Band file names inside a product folder (the 10 m / 30 m bands).
SENTINEL2_BANDS = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}
LANDSAT8_BANDS = {"blue": "B2", "green": "B3", "red": "B4", "nir": "B5"}


@dataclass
class MultispectralScene:
    """Bands on one grid (float32 reflectance or DN; NaN = nodata), with the scene's georeference."""

    bands: dict[str, np.ndarray]
    pixel_size_m: float
    crs: str | None = None
    transform: tuple[float, ...] | None = None
    sensor: str = ""
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return next(iter(self.bands.values())).shape  # type: ignore[return-value]

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and self.transform is not None


@dataclass(frozen=True)
class OpticalShipParams:
    """Water test, background windows (metres), thresholds and ship size range."""

    ndwi_threshold: float = 0.0
    shore_buffer_m: float = 60.0  # surf on a beach is bright and would read as targets
    target_m: float = 30.0  # a 3x3 mean at 10 m: a hull fills it, a 1 px whitecap is diluted
    guard_m: float = 310.0
    background_m: float = 610.0
    z: float = 7.0
    grow_z: float = 3.0
    min_length_m: float = 25.0
    max_length_m: float = 400.0
    min_area_m2: float = 500.0  # of the grown object: whitecaps and glint glints are 1-3 px at 10 m

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def read_scene(paths: dict[str, str | Path], *, sensor: str = "") -> MultispectralScene:
    """Read band files (``{"green": path, "red": path, "nir": path, ...}``) that share one grid."""
    import rasterio

    missing = [b for b in NEEDED if b not in paths]
    if missing:
        raise ValidationError(f"missing band(s) {', '.join(missing)} (need green, red, nir)", subject="bands")
    bands: dict[str, np.ndarray] = {}
    first: geo.RasterInfo | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", geo.PixelModeWarning)
        for name, path in paths.items():
            info = geo.open_raster(path)
            if first is None:
                first = info
            elif (info.width, info.height, info.crs, info.transform) != (
                first.width,
                first.height,
                first.crs,
                first.transform,
            ):
                raise ValidationError(
                    f"band {name} is not on the grid of {first.path.name} "
                    f"({info.width}x{info.height} vs {first.width}x{first.height} px); resample it first",
                    subject=info.path,
                )
            with rasterio.open(info.path) as ds:
                data = ds.read(1).astype(np.float32)
                mask = ds.read_masks(1) > 0
            data[~mask] = np.nan
            bands[name] = data
    assert first is not None
    return MultispectralScene(
        bands=bands,
        pixel_size_m=first.pixel_size_m or 1.0,
        crs=first.crs,
        transform=first.transform,
        sensor=sensor,
        paths={k: Path(v) for k, v in paths.items()},
    )


def product_band_paths(folder: str | Path, sensor: str) -> dict[str, Path]:
    """Band files of a Sentinel-2 (``*_B03.jp2`` ...) or Landsat 8/9 (``*_B3.tif`` ...) product folder."""
    folder = Path(folder)
    table = {"sentinel2": SENTINEL2_BANDS, "landsat8": LANDSAT8_BANDS}.get(sensor.lower().replace("-", ""))
    if table is None:
        raise ValidationError(f"unknown sensor {sensor!r}; choose sentinel2 or landsat8", subject="sensor")
    out: dict[str, Path] = {}
    for name, code in table.items():
        found = sorted(p for p in folder.iterdir() if p.stem.upper().endswith("_" + code))
        if found:
            out[name] = found[0]
    missing = [b for b in NEEDED if b not in out]
    if missing:
        raise BadInputError(f"no {', '.join(missing)} band file in the folder", subject=folder)
    return out


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((green - nir) / (green + nir)).astype(np.float32)


def water_mask(
    scene: MultispectralScene, params: OpticalShipParams | None = None, *, max_hole_m2: float | None = None
) -> np.ndarray:
    """Water (True) by NDWI, ship-sized holes filled, the shore eroded away."""
    params = params or OpticalShipParams()
    px = scene.pixel_size_m
    index = ndwi(scene.bands["green"], scene.bands["nir"])
    with np.errstate(invalid="ignore"):
        water = index > params.ndwi_threshold
    valid = np.isfinite(index)
    # Holes up to the largest ship (length x a fifth of it, doubled for the blur) are targets on water.
    max_hole_px = (max_hole_m2 or params.max_length_m * params.max_length_m / 5 * 2) / (px * px)
    holes = ~water & valid
    labels, n = ndimage.label(holes)
    if n:
        sizes = ndimage.sum_labels(holes, labels, np.arange(1, n + 1))
        enclosed = np.ones(n, bool)
        # A hole touching the scene edge is open land or sea edge, not an island in the water.
        for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
            enclosed[np.unique(edge[edge > 0]) - 1] = False
        small = np.flatnonzero((sizes <= max_hole_px) & enclosed) + 1
        water |= np.isin(labels, small)
    r = int(math.ceil(params.shore_buffer_m / px))
    if r > 0:
        water = (
            cv2.erode(water.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
            > 0
        )
    return water & valid


def detect_ships(scene: MultispectralScene, params: OpticalShipParams | None = None) -> Detections:
    """Ships on the water of a multispectral scene (boxes in pixels, scores 0.5 at the threshold)."""
    params = params or OpticalShipParams()
    missing = [b for b in NEEDED if b not in scene.bands]
    if missing:
        raise ValidationError(f"scene lacks band(s) {', '.join(missing)}", subject="bands")
    water = water_mask(scene, params)
    if not water.any():
        return Detections.empty(DETECTOR_ID)
    target = scene.bands["nir"] + scene.bands["red"]
    cf = cfar.CfarParams(
        target_m=params.target_m,
        guard_m=params.guard_m,
        background_m=params.background_m,
        pfa=float(_sf(params.z)),
        min_area_px=max(1, math.ceil(params.min_area_m2 / scene.pixel_size_m**2)),
        min_length_m=params.min_length_m,
        max_length_m=params.max_length_m,
        dilation_px=1,
        grow_z=params.grow_z,
    )
    found = cfar.detect_array(target, cf, pixel_size_m=scene.pixel_size_m, water=water)
    return Detections(
        boxes=found.boxes, scores=found.scores, class_names=["ship"] * len(found), detector_id=DETECTOR_ID
    )


def _sf(z: float) -> float:
    from scipy.stats import norm

    return float(norm.sf(z))


def water_area_km2(water: np.ndarray, pixel_size_m: float) -> float:
    return float(water.sum()) * pixel_size_m * pixel_size_m / 1e6


def detection_features(found: Detections, scene: MultispectralScene) -> list[dict[str, Any]]:
    """GeoJSON Features (EPSG:4326 box polygons; null geometry in pixel mode) with class, score, box."""
    geometries: list[dict[str, Any] | None] = [None] * len(found)
    if scene.georeferenced and len(found):
        geometries = geo.box_polygons(scene.crs, scene.transform, found.boxes)
    return [
        {
            "type": "Feature",
            "geometry": geometries[i],
            "properties": {
                "class_name": found.class_names[i],
                "score": round(float(found.scores[i]), 4),
                "box": [round(float(v), 1) for v in found.boxes[i]],
                "detector_id": found.detector_id,
                "length_m": round(
                    float(max(found.boxes[i, 2] - found.boxes[i, 0], found.boxes[i, 3] - found.boxes[i, 1]))
                    * scene.pixel_size_m,
                    1,
                ),
            },
        }
        for i in range(len(found))
    ]
