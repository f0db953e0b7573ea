"""Optical change between two dates (iMAD): new activity is found, a radiometric shift is not."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from imint.errors import ValidationError
from imint.sites import add_scene, add_site, site_changes
from imint.sites.imad import imad, new_activity
from imint.workspace import Workspace


def _optical_pair(tmp_path, *, with_change: bool):
    """Two 3-band dates of one area: the second is re-calibrated (gain, offset, noise), plus a block."""
    rng = np.random.default_rng(0)
    h, w = 240, 320
    base = np.stack([rng.gamma(4, 20, (h, w)) for _ in range(3)]).astype(np.float32)
    later = base * np.array([1.3, 0.9, 1.1])[:, None, None] + np.array([12, -5, 3])[:, None, None]
    later += rng.normal(0, 4, later.shape)
    if with_change:
        later[:, 100:140, 200:260] = np.array([250, 40, 60])[:, None, None]  # a new camp of red tents
    paths = []
    for name, data in (("a.tif", base), ("b.tif", later)):
        path = tmp_path / name
        profile = {
            "driver": "GTiff",
            "width": w,
            "height": h,
            "count": 3,
            "dtype": "float32",
            "crs": "EPSG:32636",
            "transform": from_origin(500_000, 3_500_000, 2.0, 2.0),
        }
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(data.astype(np.float32))
            ds.update_tags(MODALITY="optical")
        paths.append(path)
    return paths


def test_imad_ignores_recalibration_and_flags_the_new_block(tmp_path):
    ws = Workspace(tmp_path / "ws")
    add_site(ws, "Base", point=(33.0, 31.6))
    a, b = _optical_pair(tmp_path, with_change=True)
    sa = add_scene(ws, a, site="Base", date="2026-05-01")
    sb = add_scene(ws, b, site="Base", date="2026-05-09")
    areas = new_activity(sa, sb, alpha=0.01, min_area_m2=200)
    assert len(areas) >= 1
    biggest = areas[0]
    x1, y1, x2, y2 = biggest["pixel_box"]
    assert (
        190 <= x1 <= 210 and 250 <= x2 <= 270 and 90 <= y1 <= 110 and 130 <= y2 <= 150
    )  # block 200-260, 100-140
    assert biggest["p_value"] < 0.01 and biggest["geometry"]["type"] in ("Polygon", "MultiPolygon")
    report = site_changes(ws, "Base", optical_min_area_m2=200)
    assert report.pairs[0].new_activity and report.pairs[0].new_activity[0]["area_m2"] == biggest["area_m2"]
    assert any(f["properties"]["change"] == "new-activity" for f in report.to_geojson()["features"])


def test_imad_without_change_flags_almost_nothing(tmp_path):
    ws = Workspace(tmp_path / "ws")
    add_site(ws, "Base", point=(33.0, 31.6))
    a, b = _optical_pair(tmp_path, with_change=False)
    sa = add_scene(ws, a, site="Base", date="2026-05-01")
    sb = add_scene(ws, b, site="Base", date="2026-05-09")
    assert new_activity(sa, sb, alpha=0.001, min_area_m2=200) == []


def test_imad_needs_same_shape():
    with pytest.raises(ValidationError, match="shape"):
        imad(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
