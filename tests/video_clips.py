"""Small video clips made at test time with PyAV from public-domain photos.

scikit-image's ``astronaut`` (Eileen Collins, NASA) and matplotlib's ``grace_hopper.jpg``
(US Navy) are public domain and ship inside installed packages, so no data file is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    from matplotlib.cbook import get_sample_data
    from PIL import Image

    with get_sample_data("grace_hopper.jpg") as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


def write_clip(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: int = 10,
    faststart: bool = False,
    rotation: int | None = None,
    times: Iterable[float] | None = None,
) -> Path:
    """Encode RGB frames as H.264 MP4; ``times`` (seconds) gives a variable frame rate."""
    options = {"movflags": "faststart"} if faststart else {}
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        time_base = Fraction(1, 1000)
        stream.codec_context.time_base = time_base
        stamps = list(times) if times is not None else [i / fps for i in range(len(frames))]
        for img, t in zip(frames, stamps, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = round(t / time_base)
            frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> None:
    h, w = img.shape[:2]
    canvas[y : y + h, x : x + w] = img


def moving_faces_frames(
    seconds: float = 3.0, fps: int = 10, size: tuple[int, int] = (480, 360), hopper: bool = True
) -> Callable[[], list[np.ndarray]]:
    """The astronaut drifting right on the left, Grace Hopper drifting left on the right."""
    w, h = size
    astro = cv2.resize(astronaut(), (240, 240), interpolation=cv2.INTER_AREA)
    gh = grace_hopper()
    gh = cv2.resize(gh, (190, round(190 * gh.shape[0] / gh.shape[1])), interpolation=cv2.INTER_AREA)
    n = round(seconds * fps)
    frames = []
    for i in range(n):
        canvas = np.full((h, w, 3), 90, np.uint8)
        _paste(canvas, astro, 10 + i * 2, 60)
        if hopper:
            _paste(canvas, gh[: h - 70], w - 200 - i, 60)
        frames.append(canvas)
    return frames


def truncate(src: Path, dest: Path, keep: float) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest
