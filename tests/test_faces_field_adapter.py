"""The tiny-face path of the SFace embedder: smoothed alignment and the field adapter."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from imint.faces.models import (
    FIELD_ADAPTER_FILE,
    TINY_FACE_UPSAMPLING,
    FieldAdapter,
    align_face,
    align_for_embedding,
    alignment_upsampling,
    get_detector,
)


@pytest.fixture(scope="module")
def astronaut_face() -> tuple[np.ndarray, np.ndarray]:
    image = data.astronaut()
    faces = get_detector("yunet").detect(image)
    assert len(faces) >= 1
    return image, faces.landmarks[0]


def test_a_large_face_is_aligned_exactly_as_before(astronaut_face) -> None:
    image, landmarks = astronaut_face
    assert alignment_upsampling(landmarks) < TINY_FACE_UPSAMPLING
    assert np.array_equal(align_for_embedding(image, landmarks), align_face(image, landmarks))


def test_a_tiny_face_is_smoothed_not_sharpened(astronaut_face) -> None:
    image, landmarks = astronaut_face
    factor = 0.15  # the astronaut's face shrinks to about 20 px, like a field shot
    size = (round(image.shape[1] * factor), round(image.shape[0] * factor))
    small = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    tiny_landmarks = landmarks * factor
    assert alignment_upsampling(tiny_landmarks) >= TINY_FACE_UPSAMPLING
    smooth = align_for_embedding(small, tiny_landmarks).astype(np.float32)
    cubic = align_face(small, tiny_landmarks).astype(np.float32)
    assert smooth.shape == cubic.shape == (112, 112, 3)
    # Smoothing lowers high-frequency energy (what JPEG blocks and ringing add).
    assert np.abs(np.diff(smooth, axis=1)).mean() < np.abs(np.diff(cubic, axis=1)).mean()


@pytest.mark.skipif(not FIELD_ADAPTER_FILE.exists(), reason="adapter weights not trained")
def test_field_adapter_changes_only_tiny_faces() -> None:
    adapter = FieldAdapter()
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    out = adapter(emb, np.array([1.0, 3.0, TINY_FACE_UPSAMPLING]))
    assert np.array_equal(out[0], emb[0])
    assert not np.allclose(out[1], emb[1]) and not np.allclose(out[2], emb[2])
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
