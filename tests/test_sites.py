"""Sites: watched areas, scenes, ship detection on simulated SAR, GeoJSON, changes between dates."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio

from imint.errors import BadInputError, ConflictError, NotFoundError, ValidationError
from imint.sites import (
    add_scene,
    add_site,
    cfar,
    detect_ships,
    detections_geojson,
    geo,
    list_scenes,
    list_sites,
    site_changes,
    write_quicklook,
)
from imint.sites.evaluate import evaluate_ships, match_greedy
from imint.sites.synthetic import SIMULATED_TAG, make_port_pair, make_sar_scene
from imint.workspace import Workspace

GEOTIFF = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "geotiff"
    / "landsat7_bahamas_RGB.byte.tif"
)


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    return make_port_pair(tmp_path_factory.mktemp("port"), width=768, height=768, n_ships=10)


def recall_precision(found_boxes, found_scores, truth):
    # IoU 0.3: simulated ships at 10 m are 1-4 px wide, where one pixel of box edge halves the IoU.
    boxes = np.asarray(found_boxes, np.float32).reshape(-1, 4)
    hits, _ = match_greedy(boxes, np.asarray(found_scores), truth, iou=0.3)
    return hits.sum() / len(truth), hits.sum() / max(len(hits), 1)


# ------------------------------------------------------------------------------ synthetic scenes


def test_synthetic_scene_is_a_tagged_georeferenced_geotiff(tmp_path):
    scene = make_sar_scene(tmp_path / "s.tif", width=512, height=400, n_ships=6, seed=3)
    with rasterio.open(scene.path) as ds:
        assert (ds.width, ds.height, ds.count, ds.dtypes[0]) == (512, 400, 1, "uint16")
        assert ds.crs.to_epsg() == 32652  # UTM zone of Vladivostok
        assert ds.tags()["SIMULATED"] == SIMULATED_TAG
        assert ds.tags()["ACQUISITION_DATE"] == "2026-03-01"
    assert len(scene) == 6 and scene.boxes.shape == (6, 4)
    assert 0.1 < scene.land_fraction < 0.6


def test_cfar_finds_ships_at_sea(tmp_path):
    scene = make_sar_scene(tmp_path / "sea.tif", width=640, height=640, n_ships=10, land=False, seed=5)
    found = cfar.detect_raster(geo.open_raster(scene.path))
    recall, precision = recall_precision(found.boxes, found.scores, scene.boxes)
    assert recall >= 0.9 and precision >= 0.9
    assert np.all((found.scores >= 0.5) & (found.scores <= 1.0))


def test_cfar_tiles_give_the_same_ships_as_one_window(tmp_path):
    scene = make_sar_scene(tmp_path / "t.tif", width=700, height=500, n_ships=12, seed=11)
    info = geo.open_raster(scene.path)
    whole = cfar.detect_raster(info, cfar.CfarParams(tile_px=4096))
    tiled = cfar.detect_raster(info, cfar.CfarParams(tile_px=256))
    key = lambda d: sorted(map(tuple, d.boxes.astype(int).tolist()))  # noqa: E731
    assert key(whole) == key(tiled)


def test_cfar_water_mask_removes_land_false_alarms(tmp_path):
    scene = make_sar_scene(tmp_path / "coast.tif", width=768, height=768, n_ships=10, seed=2)
    info = geo.open_raster(scene.path)
    masked = cfar.detect_raster(info, land_mask="auto")
    unmasked = cfar.detect_raster(info, land_mask=None)
    r_masked, p_masked = recall_precision(masked.boxes, masked.scores, scene.boxes)
    _, p_unmasked = recall_precision(unmasked.boxes, unmasked.scores, scene.boxes)
    assert r_masked >= 0.8
    assert p_masked > p_unmasked


# ------------------------------------------------------------------------------------- sites


def test_sites_from_a_place_a_point_and_a_polygon(ws):
    city = add_site(ws, "Golden Horn", place="Vladivostok", radius_m=8000)
    assert city.place.startswith("Vladivostok") and abs(city.center[1] - 43.1) < 0.1
    point = add_site(ws, "Anchorage", point=(131.95, 43.05))
    assert point.radius_m == 5000 and point.geometry["type"] == "Polygon"
    ring = [(131.8, 43.0), (132.0, 43.0), (132.0, 43.2), (131.8, 43.2)]
    poly = add_site(ws, "Bay", polygon=ring, notes="whole bay")
    assert poly.radius_m is None and abs(poly.center[0] - 131.9) < 1e-6
    assert [s.name for s in list_sites(ws)] == ["Anchorage", "Bay", "Golden Horn"]


def test_site_errors_name_the_problem(ws):
    add_site(ws, "Port", point=(10, 50))
    with pytest.raises(ConflictError, match="Port"):
        add_site(ws, "Port", point=(11, 50))
    with pytest.raises(ValidationError, match="exactly one"):
        add_site(ws, "Both", point=(10, 50), place="Vladivostok")
    with pytest.raises(ValidationError, match="lon, lat"):
        add_site(ws, "Bad", point=(200, 50))
    with pytest.raises(NotFoundError, match="Xqzzyville"):
        add_site(ws, "Lost", place="Xqzzyville")
    with pytest.raises(ValidationError, match="polygon"):
        add_site(ws, "Line", polygon=[(0, 0), (1, 1)])
    assert [s.name for s in list_sites(ws)] == ["Port"]


# ------------------------------------------------------------------------------------ scenes


def test_scene_date_and_georeference_come_from_the_file(ws, tmp_path):
    add_site(ws, "Golden Horn", place="Vladivostok")
    syn = make_sar_scene(tmp_path / "a.tif", width=256, height=256, n_ships=2, date="2026-04-02")
    scene = add_scene(ws, syn.path, site="Golden Horn")
    assert scene.date == "2026-04-02" and scene.modality == "SAR" and scene.georeferenced
    assert scene.pixel_size_m == pytest.approx(10.0)
    assert add_scene(ws, syn.path, site="Golden Horn").id == scene.id  # same file twice: one scene
    given = add_scene(ws, syn.path, site="Golden Horn", date="2026-04-03")
    assert given.id == scene.id
    assert len(list_scenes(ws, "Golden Horn")) == 1


def test_geotiff_without_crs_is_pixel_mode_with_a_warning(ws, tmp_path):
    add_site(ws, "X", point=(0, 0))
    syn = make_sar_scene(tmp_path / "nocrs.tif", width=256, height=256, n_ships=3, georeferenced=False)
    with pytest.warns(UserWarning, match="no CRS"):
        scene = add_scene(ws, syn.path, site="X")
    assert not scene.georeferenced and scene.crs is None
    found = detect_ships(ws, scene, land_mask=None)
    assert found and all(d.geometry is None for d in found)
    gj = detections_geojson(scene, found)
    assert gj["features"][0]["geometry"] is None and len(gj["features"][0]["properties"]["pixel_box"]) == 4


def test_png_chip_is_accepted_in_pixel_mode(ws, tmp_path):
    add_site(ws, "X", point=(0, 0))
    chip = tmp_path / "chip.png"
    cv2.imwrite(str(chip), np.full((64, 80), 30, np.uint8))
    with pytest.warns(UserWarning, match="pixel mode"):
        scene = add_scene(ws, chip, site="X", date="2026-01-05", modality="SAR")
    assert (scene.width, scene.height, scene.georeferenced) == (80, 64, False)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("fake.tif", b"this is text, not a raster", "not a readable raster"), ("empty.tif", b"", "0 bytes")],
)
def test_non_rasters_are_refused_and_nothing_is_stored(ws, tmp_path, name, content, message):
    add_site(ws, "X", point=(0, 0))
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(BadInputError, match=message):
        add_scene(ws, bad, site="X")
    assert ws.list_evidence() == [] and list_scenes(ws) == []


def test_truncated_geotiff_is_refused(ws, tmp_path):
    add_site(ws, "X", point=(0, 0))
    syn = make_sar_scene(tmp_path / "whole.tif", width=256, height=256, n_ships=1)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(syn.path.read_bytes()[:300])
    with pytest.raises(BadInputError, match="cut.tif"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scene = add_scene(ws, cut, site="X")
            detect_ships(ws, scene)


def test_scene_needs_a_known_site_and_a_real_date(ws, tmp_path):
    syn = make_sar_scene(tmp_path / "a.tif", width=128, height=128, n_ships=1)
    with pytest.raises(NotFoundError, match="Nowhere"):
        add_scene(ws, syn.path, site="Nowhere")
    add_site(ws, "X", point=(0, 0))
    with pytest.raises(ValidationError, match="2026-02-30"):
        add_scene(ws, syn.path, site="X", date="2026-02-30")
    assert ws.list_evidence() == []


# ---------------------------------------------------------------------------- geo round trip


def test_pixel_to_lonlat_round_trip_and_geojson_polygons(tmp_path):
    syn = make_sar_scene(tmp_path / "g.tif", width=300, height=200, n_ships=4, seed=9)
    info = geo.open_raster(syn.path)
    cols, rows = np.array([0.0, 150.5, 299.0]), np.array([0.0, 99.5, 199.0])
    lon, lat = geo.pixel_to_lonlat(info.crs, info.transform, cols, rows)
    back_c, back_r = geo.lonlat_to_pixel(info.crs, info.transform, lon, lat)
    np.testing.assert_allclose(back_c, cols, atol=1e-6)
    np.testing.assert_allclose(back_r, rows, atol=1e-6)
    # The same corner through rasterio's own transform and an independent pyproj call.
    from pyproj import Transformer

    with rasterio.open(syn.path) as ds:
        x, y = ds.transform * (150.5, 99.5)
    ref_lon, ref_lat = Transformer.from_crs(info.crs, "EPSG:4326", always_xy=True).transform(x, y)
    assert (lon[1], lat[1]) == pytest.approx((ref_lon, ref_lat), abs=1e-9)
    # Each ship's true centre lies inside the EPSG:4326 polygon of its truth box.
    from shapely.geometry import Point, shape

    for poly, (slon, slat) in zip(
        geo.box_polygons(info.crs, info.transform, syn.boxes), syn.lonlat, strict=True
    ):
        assert shape(poly).contains(Point(slon, slat))
    # 10 m pixels: one pixel step east is ~10 m on the ground.
    lon2, lat2 = geo.pixel_to_lonlat(info.crs, info.transform, np.array([10.0, 11.0]), np.array([10.0, 10.0]))
    assert geo.haversine_m(lon2[0], lat2[0], lon2[1], lat2[1]) == pytest.approx(10.0, rel=0.01)


# ------------------------------------------------------------------ detections and changes


def test_detections_are_stored_exported_and_replaced_on_rerun(ws, port, tmp_path):
    first, _, _ = port
    add_site(ws, "Golden Horn", place="Vladivostok")
    scene = add_scene(ws, first.path, site="Golden Horn")
    found = detect_ships(ws, scene)
    recall, _ = recall_precision([d.box for d in found], [d.score for d in found], first.boxes)
    assert recall >= 0.9
    assert all(d.geometry["type"] == "Polygon" for d in found)
    again = detect_ships(ws, scene)
    from imint.sites import stored_detections

    assert len(stored_detections(ws, scene.id, "cfar")) == len(again)
    gj = detections_geojson(scene, found)
    lons = [c[0] for f in gj["features"] for c in f["geometry"]["coordinates"][0]]
    assert all(131.7 < v < 132.1 for v in lons)
    png = write_quicklook(scene, found, tmp_path / "ql.png")
    image = cv2.imread(str(png))
    assert image.shape[:2] == (768, 768)
    assert (image[..., 2] > 200).sum() > (image[..., 0] > 200).sum()  # red boxes drawn on grey


def test_changes_find_arrivals_departures_and_stayed(ws, port, tmp_path):
    first, second, truth = port
    add_site(ws, "Golden Horn", place="Vladivostok")
    for syn in (first, second):
        detect_ships(ws, add_scene(ws, syn.path, site="Golden Horn"))
    report = site_changes(ws, "Golden Horn", match_distance_m=200)
    assert report.dates == ["2026-03-01", "2026-03-08"]
    pair = report.pairs[0]

    def near(points, lonlat):
        return any(geo.haversine_m(p["lon"], p["lat"], *lonlat) < 150 for p in points)

    assert all(near(pair.departures, first.lonlat[i]) for i in truth["departed"])
    assert all(near(pair.arrivals, second.lonlat[j]) for j in truth["arrived"])
    assert all(near([s["b"] for s in pair.stayed], first.lonlat[i]) for i in truth["stayed"])
    gj = report.to_geojson()
    kinds = {f["properties"]["change"] for f in gj["features"]}
    assert {"arrival", "departure", "stayed"} <= kinds
    chart = report.chart_png(tmp_path / "counts.png")
    assert cv2.imread(str(chart)) is not None
    assert json.loads(json.dumps(report.to_dict()))["counts"] == report.counts


def test_changes_of_an_unknown_site(ws):
    with pytest.raises(NotFoundError, match="nowhere"):
        site_changes(ws, "nowhere")


# --------------------------------------------------------------------------------- evaluation


def _chip_folder(tmp_path: Path) -> Path:
    """A tiny eval folder like ../shared/data/ships, cut from a simulated scene (8-bit PNG chips)."""
    syn = make_sar_scene(
        tmp_path / "big.tif", width=512, height=512, n_ships=8, land=False, seed=21, pixel_size_m=6
    )
    with rasterio.open(syn.path) as ds:
        amp = ds.read(1).astype(np.float32)
    grey = np.clip(amp / np.median(amp) * 20, 0, 255).astype(np.uint8)
    (tmp_path / "chips" / "images").mkdir(parents=True)
    rows, ann = [], []
    for k, (y0, x0) in enumerate([(0, 0), (0, 256), (256, 0), (256, 256)]):
        name = f"images/c{k}.png"
        cv2.imwrite(str(tmp_path / "chips" / name), grey[y0 : y0 + 256, x0 : x0 + 256])
        inside = [
            b for b in syn.boxes if x0 <= (b[0] + b[2]) / 2 < x0 + 256 and y0 <= (b[1] + b[3]) / 2 < y0 + 256
        ]
        rows.append([name, 256, 256, "sim", "sim", "SAR", "", "offshore", len(inside)])
        ann += [[name, b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0, "ship", 0] for b in inside]
    with open(tmp_path / "chips" / "images.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["image", "width", "height", "source", "sensor", "modality", "scene", "subset", "n_objects"]
        )
        w.writerows(rows)
    with open(tmp_path / "chips" / "annotations.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "x1", "y1", "x2", "y2", "label", "difficult"])
        w.writerows(ann)
    return tmp_path / "chips"


def test_eval_ships_reports_the_issue_keys(tmp_path):
    folder = _chip_folder(tmp_path)
    params = cfar.CfarParams(
        target_m=1, guard_m=91, background_m=131, pfa=1e-6, min_area_px=2, min_length_m=0
    )
    result = evaluate_ships(folder, detector="cfar", cfar_params=params)
    for key in ("images", "objects", "precision", "recall", "f1", "ap50", "seconds", "megapixels_per_second"):
        assert key in result
    assert set(result["by_subset"]) == {"inshore", "offshore"}
    assert set(result["by_modality"]) >= {"SAR", "optical"}
    assert result["images"] == 4 and result["objects"] >= 6
    assert result["f1"] > 0.6 and result["by_subset"]["offshore"]["objects"] == result["objects"]


def test_eval_scoring_counts_a_double_detection_once():
    truth = np.array([[10, 10, 30, 20]], np.float32)
    boxes = np.array([[10, 10, 30, 20], [11, 10, 31, 20], [100, 100, 110, 110]], np.float32)
    hits, counted = match_greedy(boxes, np.array([0.9, 0.8, 0.7]), truth)
    assert hits.tolist() == [True, False, False] and counted.all()


def test_eval_folder_without_csv_is_refused(tmp_path):
    with pytest.raises(BadInputError, match="images.csv"):
        evaluate_ships(tmp_path)


# ---------------------------------------------------------------------- real GeoTIFF fixture


@pytest.mark.data
@pytest.mark.skipif(not GEOTIFF.exists(), reason="../shared/data/geotiff not present")
def test_real_landsat_geotiff_round_trip(ws):
    add_site(ws, "Andros", point=(-77.8, 24.6), radius_m=100_000)
    scene = add_scene(ws, GEOTIFF, site="Andros", date="2000-01-01")
    assert scene.modality == "optical" and scene.bands == 3 and scene.crs == "EPSG:32618"
    assert scene.pixel_size_m == pytest.approx(300, rel=0.01)
    ring = np.array(scene.footprint["coordinates"][0])
    assert ring[:, 0].min() == pytest.approx(-78.96, abs=0.05) and ring[:, 1].max() == pytest.approx(
        25.55, abs=0.05
    )
    info = geo.open_raster(GEOTIFF)
    window = geo.read_window(info, 0, 0, 100, 100)
    assert np.isnan(window).any()  # nodata corner of the rotated footprint
    with pytest.warns(UserWarning, match="built for SAR"):
        found = detect_ships(ws, scene)
    gj = detections_geojson(scene, found)
    for f in gj["features"]:
        lon, lat = np.array(f["geometry"]["coordinates"][0]).mean(axis=0)
        assert -79.1 < lon < -76.4 and 23.4 < lat < 25.7
