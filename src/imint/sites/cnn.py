"""The learned SAR ship detector (``--detector cnn``): a small CenterNet-style network run with onnxruntime.

The network (``models/shipnet.onnx``) was trained by ``training/ships/train.py`` on 8-bit SAR chips;
``models/shipnet.json`` holds its operating threshold (chosen on a held-out split) and how it was
measured. Scenes that are not 8-bit are mapped to the chips' look first: amplitude (the square root
of intensity) scaled so the scene's median, mostly sea, sits at grey level 20 as in the training chips.
Large rasters are read and run in overlapping tiles, so memory stays bounded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from imint.errors import NotFoundError
from imint.records import Detections
from imint.sites.geo import RasterInfo, iter_tiles, read_overview, read_window

MODEL_DIR = Path(__file__).parent / "models"
MODEL_NAME = "shipnet"
STRIDE = 4
SEA_GREY = 20.0  # median grey level of the training chips (SSDD 19, HRSID 16.5, SAR-Ship 20)
TILE = 1024
OVERLAP = 96
_lock = threading.Lock()


@lru_cache(maxsize=2)
def load_model(name: str = MODEL_NAME) -> tuple[Any, dict[str, Any]]:
    """The onnxruntime session and card of a model, loaded once per process."""
    import onnxruntime as ort

    path = MODEL_DIR / f"{name}.onnx"
    if not path.exists():
        raise NotFoundError(
            "ship detector weights missing (train with training/ships/train.py)", subject=path
        )
    card = json.loads((MODEL_DIR / f"{name}.json").read_text())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    return session, card


def detector_id(name: str = MODEL_NAME) -> str:
    _, card = load_model(name)
    return f"cnn-{name}-{card.get('version', 'v1')}"


def decode(maps: np.ndarray, score_floor: float, top_k: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (x1, y1, x2, y2 px) and scores from one (5, H/4, W/4) output: peaks of the centre map."""
    heat = 1.0 / (1.0 + np.exp(-maps[0]))
    peaks = (heat == cv2.dilate(heat, np.ones((3, 3), np.uint8))) & (heat >= score_floor)
    ys, xs = np.nonzero(peaks)
    scores = heat[ys, xs]
    order = np.argsort(-scores)[:top_k]
    ys, xs, scores = ys[order], xs[order], scores[order]
    cx = (xs + maps[1, ys, xs]) * STRIDE
    cy = (ys + maps[2, ys, xs]) * STRIDE
    w = np.exp(np.clip(maps[3, ys, xs], -3, 6)) * STRIDE
    h = np.exp(np.clip(maps[4, ys, xs], -3, 6)) * STRIDE
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)
    return boxes.reshape(-1, 4), scores.astype(np.float32)


def _run(image01: np.ndarray) -> np.ndarray:
    session, _ = load_model()
    h, w = image01.shape
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    padded = np.zeros((1, 1, ph, pw), np.float32)
    padded[0, 0, :h, :w] = image01
    with _lock:  # one onnxruntime session shared by threads
        return session.run(None, {"image": padded})[0][0]


def detect_array(image: np.ndarray, *, score_floor: float | None = None) -> Detections:
    """Ships in one 8-bit-scaled grey image (values 0-255), tiled when larger than 1024 px."""
    _, card = load_model()
    floor = card["threshold"] if score_floor is None else score_floor
    image = np.asarray(image, np.float32)
    if image.ndim == 3:
        image = image.mean(axis=2)
    image01 = np.clip(np.nan_to_num(image, nan=0.0), 0, 255) / 255.0
    h, w = image01.shape
    boxes_all, scores_all = [], []
    if max(h, w) <= TILE + OVERLAP:
        boxes, scores = decode(_run(image01), floor)
        boxes_all.append(boxes)
        scores_all.append(scores)
    else:
        for cx0, cy0, cx1, cy1, px0, py0 in iter_tiles(w, h, TILE, OVERLAP):
            wx0, wy0 = cx0 - px0, cy0 - py0
            wx1, wy1 = min(cx1 + OVERLAP, w), min(cy1 + OVERLAP, h)
            boxes, scores = decode(_run(image01[wy0:wy1, wx0:wx1]), floor)
            boxes += np.array([wx0, wy0, wx0, wy0], np.float32)
            keep = _in_core(boxes, cx0, cy0, cx1, cy1)
            boxes_all.append(boxes[keep])
            scores_all.append(scores[keep])
    boxes = np.concatenate(boxes_all)
    return Detections(
        boxes=boxes,
        scores=np.concatenate(scores_all),
        class_names=["ship"] * len(boxes),
        detector_id=detector_id(),
    )


def _in_core(boxes: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    return (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)


def display_gain(info: RasterInfo) -> tuple[float, bool]:
    """(gain, take square root) mapping a scene to the training chips' 8-bit look."""
    if info.dtype == "uint8":
        return 1.0, False
    intensity = info.tags.get("SAR_QUANTITY", "").lower() == "intensity" or info.dtype.startswith("float")
    overview, _ = read_overview(info, max_side=1024)
    if intensity:
        overview = np.sqrt(np.maximum(overview, 0))
    finite = overview[np.isfinite(overview) & (overview > 0)]
    median = float(np.median(finite)) if finite.size else 1.0
    return SEA_GREY / max(median, 1e-9), intensity


def detect_raster(
    info: RasterInfo, *, band: int | None = 1, on_tile: Callable[[int, int], None] | None = None
) -> Detections:
    """The CNN over a whole raster in 1024 px tiles read one at a time (memory bounded)."""
    _, card = load_model()
    gain, take_sqrt = display_gain(info)
    tiles = list(iter_tiles(info.width, info.height, TILE, OVERLAP))
    boxes_all, scores_all = [np.zeros((0, 4), np.float32)], [np.zeros(0, np.float32)]
    for i, (cx0, cy0, cx1, cy1, px0, py0) in enumerate(tiles):
        wx0, wy0 = cx0 - px0, cy0 - py0
        wx1, wy1 = min(cx1 + OVERLAP, info.width), min(cy1 + OVERLAP, info.height)
        data = read_window(info, wx0, wy0, wx1, wy1, band=band)
        if take_sqrt:
            data = np.sqrt(np.maximum(data, 0))
        grey = np.clip(np.nan_to_num(data * gain, nan=0.0), 0, 255) / 255.0
        boxes, scores = decode(_run(grey), card["threshold"])
        boxes += np.array([wx0, wy0, wx0, wy0], np.float32)
        keep = _in_core(boxes, cx0, cy0, cx1, cy1)
        boxes_all.append(boxes[keep])
        scores_all.append(scores[keep])
        if on_tile:
            on_tile(i + 1, len(tiles))
    boxes = np.concatenate(boxes_all)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, info.width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, info.height)
    return Detections(
        boxes=boxes,
        scores=np.concatenate(scores_all),
        class_names=["ship"] * len(boxes),
        detector_id=detector_id(),
    )


def model_card() -> dict[str, Any]:
    return dict(load_model()[1])


def is_available() -> bool:
    return (MODEL_DIR / f"{MODEL_NAME}.onnx").exists()


__all__ = ["decode", "detect_array", "detect_raster", "is_available", "load_model", "model_card"]
