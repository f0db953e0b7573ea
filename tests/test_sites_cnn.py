"""The learned SAR ship detector (ONNX, committed weights) inside the sites workflow."""

from __future__ import annotations

import numpy as np
import pytest

from imint.sites import add_scene, add_site, cnn, detect_ships, geo
from imint.sites.evaluate import match_greedy
from imint.sites.synthetic import make_sar_scene
from imint.workspace import Workspace


def test_model_card_and_weights_ship_together():
    card = cnn.model_card()
    assert card["name"] == "shipnet" and 0 < card["threshold"] < 1
    assert card["validation"]["images"] == len(card["validation_images"]) > 50
    import hashlib

    digest = hashlib.sha256((cnn.MODEL_DIR / "shipnet.onnx").read_bytes()).hexdigest()
    assert digest == card["onnx_sha256"]


def test_output_maps_have_a_quarter_of_the_input_size():
    session, _ = cnn.load_model()
    out = session.run(None, {"image": np.zeros((1, 1, 96, 160), np.float32)})[0]
    assert out.shape == (1, 5, 24, 40)


def test_cnn_finds_simulated_ships_at_high_resolution(tmp_path):
    # 3 m pixels: ships are 13-100 px long, like the SSDD/HRSID chips the network learned from.
    syn = make_sar_scene(
        tmp_path / "s.tif", width=768, height=768, pixel_size_m=3, n_ships=8, land=False, seed=4
    )
    found = cnn.detect_raster(geo.open_raster(syn.path))
    hits, _ = match_greedy(found.boxes, found.scores, syn.boxes, iou=0.3)
    assert hits.sum() >= 0.75 * len(syn.boxes)
    assert hits.sum() >= 0.6 * len(found)


def test_tiled_and_whole_image_runs_agree(tmp_path):
    syn = make_sar_scene(
        tmp_path / "t.tif", width=1500, height=1300, pixel_size_m=3, n_ships=10, land=False, seed=8
    )
    info = geo.open_raster(syn.path)
    tiled = cnn.detect_raster(info)  # 1024 px tiles, 96 px overlap
    gain, _ = cnn.display_gain(info)
    whole = geo.read_window(info, 0, 0, info.width, info.height) * gain
    session, card = cnn.load_model()
    image01 = np.clip(whole, 0, 255)[None, None] / 255.0
    ph, pw = -(-info.height // 32) * 32, -(-info.width // 32) * 32
    padded = np.zeros((1, 1, ph, pw), np.float32)
    padded[..., : info.height, : info.width] = image01
    boxes, scores = cnn.decode(session.run(None, {"image": padded})[0][0], card["threshold"])
    hits, _ = match_greedy(tiled.boxes, tiled.scores, boxes, iou=0.7)
    assert abs(len(tiled) - len(boxes)) <= 2 and hits.sum() >= len(boxes) - 2


def test_detect_ships_with_cnn_stores_georeferenced_detections(tmp_path):
    ws = Workspace(tmp_path / "ws")
    add_site(ws, "Golden Horn", place="Vladivostok")
    syn = make_sar_scene(
        tmp_path / "s.tif", width=512, height=512, pixel_size_m=3, n_ships=5, land=False, seed=1
    )
    scene = add_scene(ws, syn.path, site="Golden Horn")
    found = detect_ships(ws, scene, detector="cnn")
    assert found and all(d.detector_id.startswith("cnn-shipnet") for d in found)
    assert all(d.geometry is not None and 0.0 < d.score <= 1.0 for d in found)
    lon, lat = np.array(found[0].geometry["coordinates"][0]).mean(axis=0)
    assert geo.haversine_m(lon, lat, *syn.lonlat.T).min() < 300


@pytest.mark.parametrize("bad", ["sonar", ""])
def test_unknown_detector_is_refused(tmp_path, bad):
    from imint.errors import ValidationError

    ws = Workspace(tmp_path / "ws")
    with pytest.raises(ValidationError, match="detector"):
        detect_ships(ws, 1, detector=bad)
