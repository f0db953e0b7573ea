"""Shared fixtures of the checks tests (no tests here): public-domain pictures from scikit-image."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from imint.workspace import Workspace


def jpeg_bytes(rgb: np.ndarray, quality: int, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def coffee() -> np.ndarray:
    from skimage import data

    return data.coffee()


def chelsea() -> np.ndarray:
    from skimage import data

    return data.chelsea()


# The pasted box of ``pasted_fake``: (y0, x0, size) on the 512 x 512 astronaut.
PASTE = (300, 180, 128)


def pasted_fake(donor: np.ndarray) -> bytes:
    """The astronaut saved at quality 70, a 128 px square of another photo pasted in, saved again at 90."""
    base = decode(jpeg_bytes(astronaut(), 70))
    y0, x0, s = PASTE
    fake = base.copy()
    fake[y0 : y0 + s, x0 : x0 + s] = donor[50 : 50 + s, 100 : 100 + s]
    return jpeg_bytes(fake, 90)


def top_share(heat: np.ndarray, box: tuple[int, int, int]) -> tuple[float, float]:
    """Share of the hottest 5 % of pixels inside the box, and the box's share of the picture (chance)."""
    y0, x0, s = box
    inside = np.zeros(heat.shape, bool)
    inside[y0 : y0 + s, x0 : x0 + s] = True
    top = heat >= np.percentile(heat, 95)
    return float((top & inside).sum() / top.sum()), float(inside.mean())


def open_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace for one test (each test file wraps this in its ``ws`` fixture)."""
    w = Workspace(tmp_path / "ws", user="tester")
    yield w
    w.close()
