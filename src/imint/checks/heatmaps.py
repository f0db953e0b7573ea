"""Heat maps as PNG files: the check's map in colour over the picture in grey, so a reader sees where."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def render(heat: np.ndarray, rgb: np.ndarray | None) -> np.ndarray:
    """An RGB uint8 picture: ``heat`` (any shape, values in [0, 1]) as inferno over ``rgb`` in grey."""
    heat = np.nan_to_num(np.clip(np.asarray(heat, np.float32), 0.0, 1.0))
    if rgb is not None:
        h, w = rgb.shape[:2]
        if heat.shape != (h, w):
            heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_NEAREST)
    coloured = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    if rgb is None:
        return coloured
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    grey3 = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    return np.clip(0.35 * grey3 + 0.65 * coloured.astype(np.float32), 0, 255).astype(np.uint8)


def write_png(path: Path, picture: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path, format="PNG")
