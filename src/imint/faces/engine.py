"""The face engine: detector + quality + embedder + calibration, loaded once per process."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from imint.faces.calibration import Calibration, load_calibration
from imint.faces.models import (
    DlibEmbedder,
    FaceDetector,
    FaceEmbedder,
    FusedEmbedder,
    SFaceEmbedder,
    get_detector,
    get_embedder,
)
from imint.faces.quality import assess, is_poor

if TYPE_CHECKING:
    from imint.records import Faces

# SFace + dlib ResNet fused at the score level, with the mirror-image passes on tiny faces only (where
# they pay; on clean faces they change no figure: docs/face-speed.md), about half the embedding cost of a
# clean face.
TINY_FLIP_EMBEDDER = "sface+dlib-tinyflip"
# The default model: YuNet run by onnxruntime (same faces as OpenCV's, 1.6-2.5x faster) and the fused
# tiny-flip embedder; its own calibration (scripts/fit_calibration.py --model ...). Its vectors do not
# compare with an older model's: `imint reembed` (imint.faces.reembed) carries a workspace over.
DEFAULT_MODEL = f"yunet-ort/{TINY_FLIP_EMBEDDER}"
# The default until 2026-12: OpenCV's YuNet, both mirror passes on every face. It stays registered and
# calibrated, so workspaces analysed with it keep working until they are re-embedded.
PREVIOUS_MODEL = "yunet/sface+dlib"
# dlib's weight in the fusion, chosen on the dev sets (see scripts/fit_calibration.py).
DLIB_WEIGHT = 1.0


def _build_embedder(name: str) -> FaceEmbedder:
    if name == "sface+dlib":
        return FusedEmbedder([(get_embedder("sface"), 1.0, None), (get_embedder("dlib"), DLIB_WEIGHT, None)])
    if name == TINY_FLIP_EMBEDDER:
        return FusedEmbedder(
            [(SFaceEmbedder(flip="tiny"), 1.0, None), (DlibEmbedder(flip="tiny"), DLIB_WEIGHT, None)]
        )
    return get_embedder(name)


@dataclass
class FaceEngine:
    """Everything needed to turn an image into embedded, quality-scored faces.

    One engine serves every thread of a process (``get_engine`` makes one per model), and
    OpenCV's detector keeps per-call state (its input size), so the image work of
    ``detect``, ``embed`` and ``analyze`` runs one call at a time, behind the engine's lock.
    """

    model_id: str
    detector: FaceDetector
    embedder: FaceEmbedder
    # Re-entrant: ``analyze`` holds it across its own ``detect`` and ``embed``.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def calibration(self) -> Calibration:
        return load_calibration(self.model_id)

    def detect(self, image: np.ndarray) -> Faces:
        """Boxes, landmarks, detector scores, quality and its reason (no embeddings)."""
        with self.lock:
            faces = self.detector.detect(image)
            faces.quality, faces.quality_reason = assess(image, faces)
        faces.model_id = self.model_id
        return faces

    def embed(self, image: np.ndarray, faces: Faces) -> Faces:
        with self.lock:
            faces.embeddings = (
                self.embedder.embed(image, faces)
                if len(faces)
                else np.zeros((0, self.embedder.dim), np.float32)
            )
        faces.model_id = self.model_id
        return faces

    def analyze(self, image: np.ndarray) -> Faces:
        """Detect, assess and embed every face of an RGB image."""
        with self.lock:
            return self.embed(image, self.detect(image))

    @staticmethod
    def usable(faces: Faces) -> np.ndarray:
        """Mask of faces good enough for enrollment and automatic matching."""
        return np.array([not is_poor(r) for r in faces.quality_reason], dtype=bool)


@functools.cache
def get_engine(model_id: str = DEFAULT_MODEL) -> FaceEngine:
    detector_name, _, embedder_name = model_id.partition("/")
    if not embedder_name:
        raise ValueError(f"model id must be 'detector/embedder', got {model_id!r}")
    return FaceEngine(model_id, get_detector(detector_name), _build_embedder(embedder_name))
