"""Five-point face landmarks: the alignment template, and a refiner for tiny faces.

On a 25-35 px face (a field photo) YuNet places the eyes, nose and mouth corners about
a tenth of the eye distance off, and the embedder is very sensitive to that: on
faces-field, aligning with the landmarks found on the clean original raised TAR at
FAR 1e-3 from 0.59 to 0.69 on identities nothing was trained on. ``LandmarkRefiner``
is a small CNN (``landmark_refiner.onnx``, trained by ``training/faces/train_landmarks.py``
on degraded copies of dev photos) that looks at the face through the detector's
landmarks and moves them to where the clean photo's detection puts them.

The refiner sees a ``CANVAS_SIZE`` px canvas: the image warped by the similarity that
takes the current landmarks onto ``CANVAS_TEMPLATE`` (the ArcFace template with some
margin). It predicts the landmarks in canvas coordinates; running it twice lets the
second pass start from a better-centred canvas.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import cv2
import numpy as np

from imint.faces.onnx_sessions import register_session_cache, session_options

# Where SFace/ArcFace-style embedders expect the eyes, nose tip and mouth corners in a
# 112 x 112 crop.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)

CANVAS_SIZE = 64
# The template shrunk into the canvas with margin: the canvas shows the whole head.
CANVAS_TEMPLATE = (ARCFACE_TEMPLATE.astype(np.float64) - 56.0) * (CANVAS_SIZE / 112.0) * 0.8 + CANVAS_SIZE / 2
LANDMARK_REFINER_FILE = Path(__file__).parent / "landmark_refiner.onnx"


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) taking ``src`` onto ``dst``: 2x3."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    # Complex-number form: z_dst = a * z_src, a = sum(conj(z_s) z_d) / sum(|z_s|^2).
    zs, zd = s[:, 0] + 1j * s[:, 1], d[:, 0] + 1j * d[:, 1]
    a = np.sum(np.conj(zs) * zd) / max(float(np.sum(np.abs(zs) ** 2)), 1e-12)
    rot = np.array([[a.real, -a.imag], [a.imag, a.real]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


def canvas_transform(landmarks: np.ndarray) -> np.ndarray:
    """The 2x3 matrix taking image coordinates into the refiner's canvas for these landmarks."""
    return similarity(landmarks, CANVAS_TEMPLATE)


def warp_canvas(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(
        image, matrix, (CANVAS_SIZE, CANVAS_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def to_canvas(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def from_canvas(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    inverse = cv2.invertAffineTransform(matrix)
    return np.asarray(points, np.float64) @ inverse[:, :2].T + inverse[:, 2]


def canvas_input(canvases: np.ndarray) -> np.ndarray:
    """uint8 RGB canvases (N, S, S, 3) -> the network's float input (N, 3, S, S)."""
    return ((canvases.astype(np.float32) - 127.5) / 64.0).transpose(0, 3, 1, 2).copy()


class LandmarkRefiner:
    """Moves the five landmarks of small faces to where a sharp photo would put them."""

    def __init__(self, path: Path = LANDMARK_REFINER_FILE, passes: int = 2) -> None:
        import onnxruntime as ort

        self._session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.passes = passes
        self._lock = threading.Lock()

    def refine(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Refined copies of ``landmarks`` (N, 5, 2) of faces in an RGB ``image``."""
        current = np.asarray(landmarks, np.float64).copy()
        if len(current) == 0:
            return current.astype(np.float32)
        for _ in range(self.passes):
            matrices = [canvas_transform(lm) for lm in current]
            canvases = np.stack([warp_canvas(image, m) for m in matrices])
            with self._lock:
                offsets = self._session.run(None, {self._input: canvas_input(canvases)})[0]
            predicted = CANVAS_TEMPLATE + offsets.reshape(-1, 5, 2) * CANVAS_SIZE
            current = np.stack([from_canvas(p, m) for p, m in zip(predicted, matrices, strict=True)])
        return current.astype(np.float32)


@functools.cache
def landmark_refiner() -> LandmarkRefiner | None:
    """The committed refiner, loaded once per process (None when the file is absent)."""
    return LandmarkRefiner() if LANDMARK_REFINER_FILE.exists() else None


register_session_cache(landmark_refiner.cache_clear)
