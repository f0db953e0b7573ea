"""Fuzzing the sites readers: GeoTIFF scenes (add_scene, pixel reads), GeoJSON land masks and site polygons.

Seeds are made at test time: a small tiled, deflate-compressed GeoTIFF with a CRS and a date tag, a
GeoJSON land FeatureCollection over it, and a site polygon Feature. GeoJSON is fuzzed both as bytes
(mutations of the real file) and as structure (any JSON where a geometry belongs).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import strategies as st
from rasterio.transform import from_origin

from imint.sites import add_scene, add_site, cfar, geo, list_scenes, list_sites
from imint.sites.service import read_polygon_file
from imint.workspace import Workspace
from tests.fuzz_support import (
    FAST_EXAMPLES,
    SLOW_EXAMPLES,
    counts,
    crasher_files,
    every_object_present,
    fuzz_bytes,
    refused_or_accepted,
    run_fuzz,
    store_state,
)

pytestmark = pytest.mark.filterwarnings("ignore")

# Around the seed scene (UTM 52N 410,000 E, 4,770,000 N): a scene must intersect its site.
RING = [[127.88, 43.06], [127.91, 43.06], [127.91, 43.08], [127.88, 43.08], [127.88, 43.06]]


def geotiff_seed(path: Path, *, compress: str | None) -> bytes:
    rng = np.random.default_rng(3)
    data = rng.gamma(2.0, 20.0, (2, 64, 64)).astype(np.uint16)
    profile = dict(
        driver="GTiff",
        width=64,
        height=64,
        count=2,
        dtype="uint16",
        crs="EPSG:32652",
        transform=from_origin(410_000, 4_770_000, 10, 10),
        tiled=True,
        blockxsize=32,
        blockysize=32,
        nodata=0,
    )
    if compress:
        profile["compress"] = compress
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        ds.update_tags(ACQUISITION_DATE="2026-03-01", MODALITY="SAR")
    return path.read_bytes()


def land_seed() -> bytes:
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [RING]}}
    return json.dumps({"type": "FeatureCollection", "features": [feature, feature]}).encode()


POLYGON = json.dumps({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [RING]}}).encode()

_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-200, 200),
    st.integers(-(2**70), 2**70),
)
_json = st.recursive(
    st.none() | st.booleans() | _numbers | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
_geometry = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["Polygon", "MultiPolygon", "Point", "LineString", "GeometryCollection", "Feature", "Nonsense"]
        ),
        "coordinates": st.one_of(
            _json,
            st.lists(st.lists(st.lists(_numbers, min_size=0, max_size=3), max_size=6), max_size=2),
        ),
    }
)
_structured = st.one_of(
    _geometry,
    _geometry.map(lambda g: {"type": "Feature", "geometry": g}),
    st.lists(st.one_of(_geometry, _json), max_size=3).map(
        lambda fs: {"type": "FeatureCollection", "features": fs}
    ),
    _json,
).map(lambda obj: json.dumps(obj).encode())
GEOJSON_INPUTS = st.one_of(fuzz_bytes(land_seed(), 512), fuzz_bytes(POLYGON, 512), _structured)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-sites")
    seeds = (
        geotiff_seed(root / "plain.tif", compress=None),
        geotiff_seed(root / "deflate.tif", compress="deflate"),
    )
    ws = Workspace(root / "ws")
    add_site(ws, "Port", polygon=RING)
    scene = add_scene(ws, root / "deflate.tif", site="Port")
    info = geo.open_raster(root / "deflate.tif")
    yield ws, scene.evidence_sha256, store_state(ws, scene.evidence_sha256), root / "inputs", seeds, info
    ws.close()


_names = itertools.count()


def _scenes_and_sites(ws) -> tuple[list, list]:  # noqa: ANN001
    return [s.to_dict() for s in list_scenes(ws)], [s.to_dict() for s in list_sites(ws)]


def _check_geotiff(store, data: bytes) -> None:  # noqa: ANN001
    ws, good_sha, good_state, folder, _, _ = store
    if hashlib.sha256(data).hexdigest() == good_sha:
        return  # the good file's own bytes: a seen-again entry is right, not a change
    folder.mkdir(exist_ok=True)
    path = folder / f"scene{next(_names)}.tif"
    path.write_bytes(data)
    ok, info = refused_or_accepted(lambda: geo.open_raster(path))
    if ok:
        refused_or_accepted(lambda: geo.read_overview(info, max_side=32))
        refused_or_accepted(lambda: geo.read_window(info, 0, 0, min(info.width, 16), min(info.height, 16)))
    else:
        assert path.name in str(info)
    before, scenes_before = counts(ws), _scenes_and_sites(ws)
    ok, out = refused_or_accepted(lambda: add_scene(ws, path, site="Port"))
    if ok:
        assert counts(ws)[0] - before[0] in (0, 1)
    else:
        assert counts(ws) == before and _scenes_and_sites(ws) == scenes_before
    assert store_state(ws, good_sha) == good_state
    path.unlink()


def _check_geojson(store, data: bytes) -> None:  # noqa: ANN001
    ws, good_sha, good_state, folder, _, info = store
    folder.mkdir(exist_ok=True)
    path = folder / f"land{next(_names)}.geojson"
    path.write_bytes(data)
    ok, shapes = refused_or_accepted(lambda: cfar.load_land_shapes(info, path))
    if ok:
        refused_or_accepted(lambda: cfar.vector_water_mask(info, shapes, (0, 0, 64, 64)))
    scenes_before, sites_before = _scenes_and_sites(ws)
    ok, poly = refused_or_accepted(lambda: read_polygon_file(path))
    added = 0
    if ok:
        ok, site = refused_or_accepted(lambda: add_site(ws, f"site {path.stem}", polygon=poly))
        if ok:
            lon, lat = site.center
            assert math.isfinite(lon) and math.isfinite(lat)
            added = 1
    scenes_after, sites_after = _scenes_and_sites(ws)
    assert scenes_after == scenes_before and len(sites_after) == len(sites_before) + added
    kept = {s["id"] for s in sites_before}
    assert [s for s in sites_after if s["id"] in kept] == sites_before
    assert store_state(ws, good_sha) == good_state
    path.unlink()


def _geotiffs(store) -> st.SearchStrategy[bytes]:  # noqa: ANN001
    plain, deflate = store[4]
    return st.one_of(fuzz_bytes(plain), fuzz_bytes(deflate))


def test_fuzz_geotiff_scenes(store) -> None:
    run_fuzz(_geotiffs(store), lambda data: _check_geotiff(store, data), FAST_EXAMPLES, "geotiff")
    every_object_present(store[0])


@pytest.mark.long
def test_fuzz_geotiff_scenes_slow(store) -> None:
    run_fuzz(_geotiffs(store), lambda data: _check_geotiff(store, data), SLOW_EXAMPLES, "geotiff")
    every_object_present(store[0])


def test_fuzz_geojson_land_and_polygons(store) -> None:
    run_fuzz(GEOJSON_INPUTS, lambda data: _check_geojson(store, data), FAST_EXAMPLES, "geojson")


@pytest.mark.long
def test_fuzz_geojson_land_and_polygons_slow(store) -> None:
    run_fuzz(GEOJSON_INPUTS, lambda data: _check_geojson(store, data), SLOW_EXAMPLES, "geojson")


@pytest.mark.parametrize("crasher", crasher_files("geotiff-"), ids=lambda p: p.name)
def test_geotiff_crashers_stay_fixed(store, crasher: Path) -> None:
    _check_geotiff(store, crasher.read_bytes())


@pytest.mark.parametrize("crasher", crasher_files("geojson-"), ids=lambda p: p.name)
def test_geojson_crashers_stay_fixed(store, crasher: Path) -> None:
    _check_geojson(store, crasher.read_bytes())
