"""Faces: a public API a newcomer can read in five minutes.

    import imint.faces as faces
    image = faces.load_image_file("photo.jpg")
    found = faces.detect(image)          # Faces: boxes, landmarks, scores, quality
    vectors = faces.embed(image)         # one L2-normalised row per face
    faces.compare(vectors[0], other)     # similarity (higher = more alike)
    faces.face_fmr(score, q1, q2)        # its calibrated false-match rate

For enrollment and 1:N search with stored results, use ``imint.Workspace``.
"""

from __future__ import annotations

import numpy as np

from imint.faces.engine import DEFAULT_MODEL, get_engine
from imint.media.images import load_image_file
from imint.records import Faces

__all__ = ["compare", "detect", "embed", "embedding_dim", "face_fmr", "load_image_file"]


def detect(image: np.ndarray, model: str = DEFAULT_MODEL) -> Faces:
    """Find faces in an RGB uint8 image: boxes, 5 landmarks, detector scores, quality."""
    return get_engine(model).detect(image)


def embed(image: np.ndarray, found: Faces | None = None, model: str = DEFAULT_MODEL) -> np.ndarray:
    """One L2-normalised embedding per face (detected here unless ``found`` is given)."""
    engine = get_engine(model)
    found = engine.detect(image) if found is None else found
    return engine.embed(image, found).embeddings


def embedding_dim(model: str = DEFAULT_MODEL) -> int:
    return get_engine(model).embedder.dim


def compare(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Cosine similarity of embeddings (a vector against a vector, or against rows)."""
    return np.asarray(b, np.float32) @ np.asarray(a, np.float32)


def face_fmr(
    score: float, quality_a: float = 1.0, quality_b: float = 1.0, model: str = DEFAULT_MODEL
) -> float:
    """The calibrated false-match rate of a comparison score at these face qualities."""
    return get_engine(model).calibration.fmr(score, quality_a, quality_b)
