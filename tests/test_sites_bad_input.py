"""Bad scenes for a site (issue 16's list): each is refused or flagged by name, and nothing stored is lost."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from imint.errors import BadInputError
from imint.sites import add_scene, add_site, list_scenes
from imint.sites.synthetic import make_sar_scene
from imint.workspace import Workspace


@pytest.fixture
def harbour(tmp_path: Path) -> Workspace:
    """A site with one good scene already stored."""
    ws = Workspace(tmp_path / "ws")
    add_site(ws, "harbour", point=(131.90, 43.08), radius_m=4000)
    good = make_sar_scene(tmp_path / "good.tif", width=256, height=256, n_ships=2, date="2026-04-02")
    add_scene(ws, good.path, site="harbour")
    yield ws
    ws.close()


def _stored(ws: Workspace) -> tuple[list, list]:
    return [e.sha256 for e in ws.list_evidence()], [sc.id for sc in list_scenes(ws)]


def test_rotated_geotiff_is_refused_by_name(harbour: Workspace, tmp_path: Path) -> None:
    before = _stored(harbour)
    path = tmp_path / "rotated.tif"
    angle = np.radians(20)
    transform = Affine(
        10 * np.cos(angle), -10 * np.sin(angle), 416000, -10 * np.sin(angle), -10 * np.cos(angle), 4770000
    )
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="float32",
        crs="EPSG:32652",
        transform=transform,
    ) as ds:
        ds.write(np.ones((1, 64, 64), np.float32))
    with pytest.raises(BadInputError, match="rotated or sheared") as err:
        add_scene(harbour, path, site="harbour")
    assert "rotated.tif" in str(err.value)
    assert _stored(harbour) == before


def test_geotiff_without_crs_is_flagged_by_name_and_kept_apart(harbour: Workspace, tmp_path: Path) -> None:
    syn = make_sar_scene(tmp_path / "nocrs.tif", width=128, height=128, n_ships=1, georeferenced=False)
    with pytest.warns(UserWarning, match=r"nocrs\.tif: GeoTIFF has no CRS"):
        scene = add_scene(harbour, syn.path, site="harbour")
    assert not scene.georeferenced and len(list_scenes(harbour, "harbour")) == 2


def test_scene_that_does_not_intersect_the_site_is_refused(harbour: Workspace, tmp_path: Path) -> None:
    before = _stored(harbour)
    far = make_sar_scene(tmp_path / "sevastopol.tif", width=128, height=128, n_ships=1, center=(33.52, 44.62))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadInputError, match="does not intersect site harbour") as err:
            add_scene(harbour, far.path, site="harbour")
    assert "sevastopol.tif" in str(err.value) and "44.6" in str(err.value)
    assert _stored(harbour) == before  # the good scene and its evidence are still there
