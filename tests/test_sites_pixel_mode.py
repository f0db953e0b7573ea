"""The product's chip path (pixel mode): 8-bit chips get the CFAR tuned on the dev chips."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from imint.sites import cfar, geo


def test_pixel_mode_parameters_follow_the_pixel_type():
    assert cfar.CfarParams.pixel_mode("uint8") == cfar.CfarParams.for_chips()
    other = cfar.CfarParams.pixel_mode("float32")
    assert other.min_area_px == 4 and other.grow_z is None  # calibrated scene without CRS: small ships kept


def test_png_chip_runs_the_tuned_cfar(tmp_path: Path):
    rng = np.random.default_rng(5)
    chip = np.clip(rng.gamma(4.0, 5.0, (300, 300)), 0, 255)  # speckled sea, median grey about 18
    chip[140:152, 100:140] = 200  # a 40 x 12 px ship
    chip[60:63, 250:253] = 255  # a 3 x 3 px glint: below the tuned >= 100 px rule
    path = tmp_path / "chip.png"
    cv2.imwrite(str(path), chip.astype(np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = geo.open_raster(path)
    found = cfar.detect_raster(info, None, land_mask="auto")
    assert len(found) == 1
    x1, y1, x2, y2 = found.boxes[0]
    assert 95 <= x1 <= 101 and 138 <= y1 <= 141 and 139 <= x2 <= 145 and 151 <= y2 <= 155
    old = cfar.detect_raster(info, cfar.CfarParams.pixel_mode("float32"), land_mask="auto")
    # The old pixel-mode parameters (z > 4.97, >= 4 px) report the glint and speckle peaks as well.
    centres = (old.boxes[:, :2] + old.boxes[:, 2:]) / 2
    assert len(old) > 2 and (np.hypot(centres[:, 0] - 251, centres[:, 1] - 61) < 4).any()
