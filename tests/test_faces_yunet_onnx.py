"""YuNet in onnxruntime (imint.faces.yunet_onnx) finds what OpenCV's FaceDetectorYN finds in the same file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imint.faces.engine import PREVIOUS_MODEL, get_engine
from imint.faces.models import YuNetDetector
from tests.conftest import astronaut, grace_hopper

SHARED_DATA = Path(
    os.environ.get("IMINT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
PIXEL_TOLERANCE = 0.05  # boxes and landmarks, in pixels of the image
# The engine's fused vectors, detected one way or the other: boxes 1e-5 px apart move SFace's vector
# by up to 1.5e-4 (the alignment's LMEDS fit) and, when a box corner crosses an integer, dlib's by up
# to 3e-3 (its landmark model starts from an integer rectangle): the reason this detector is not the
# default model's (its vectors would not stay within 1e-4 of those stored).
EMBEDDING_TOLERANCE = 5e-3


@pytest.fixture(scope="module")
def detectors() -> tuple[YuNetDetector, YuNetDetector]:
    return YuNetDetector(backend="opencv"), YuNetDetector(backend="onnxruntime")


def _photos() -> dict[str, np.ndarray]:
    astro, hopper = astronaut(), grace_hopper()
    group = np.concatenate(
        [np.asarray(Image.fromarray(hopper).resize((256, 320))), astro[:320, :256]], axis=1
    )
    return {
        "astronaut": astro,
        "grace_hopper": hopper,
        "two faces": group,
        "tiny astronaut": np.asarray(Image.fromarray(astro).resize((96, 96), Image.Resampling.BILINEAR)),
        "no face": np.full((200, 300, 3), 90, np.uint8),
        "odd size": astro[:301, :333],
    }


def _same(a, b) -> None:  # noqa: ANN001
    assert len(a) == len(b)
    if len(a):
        assert np.abs(a.boxes - b.boxes).max() < PIXEL_TOLERANCE
        assert np.abs(a.landmarks - b.landmarks).max() < PIXEL_TOLERANCE
        assert np.abs(a.scores - b.scores).max() < 1e-3


@pytest.mark.parametrize("name", list(_photos()))
def test_onnxruntime_yunet_finds_what_opencv_finds(detectors, name) -> None:
    opencv, ours = detectors
    image = _photos()[name]
    found = ours.detect(image)
    _same(opencv.detect(image), found)
    assert len(found) == {"two faces": 2, "no face": 0}.get(name, 1)


def test_the_raw_rows_agree_and_the_comparison_can_fail(detectors) -> None:
    import cv2

    opencv, ours = detectors
    bgr = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    a, b = opencv._run(bgr), ours._run(bgr)
    assert a.shape == b.shape == (1, 15)
    assert np.abs(a - b).max() < PIXEL_TOLERANCE
    shifted = ours._run(np.ascontiguousarray(bgr[3:, 5:]))
    assert np.abs(a[0, :4] - shifted[0, :4]).max() > 1.0
    with pytest.raises(ValueError, match="backend"):
        YuNetDetector(backend="tflite")


def test_the_engine_embeds_the_same_vectors_with_either_detector(detectors) -> None:
    opencv, _ = detectors
    engine, fast = get_engine(PREVIOUS_MODEL), get_engine("yunet-ort/sface+dlib")
    assert engine.detector.backend == "opencv" and fast.detector.backend == "onnxruntime"
    for name, image in _photos().items():
        ours = fast.embed(image, fast.detect(image))
        theirs = engine.embed(image, opencv.detect(image))
        assert len(ours) == len(theirs), name
        if len(ours):
            assert np.abs(ours.embeddings - theirs.embeddings).max() < EMBEDDING_TOLERANCE, name


@pytest.mark.data
@pytest.mark.parametrize("folder", ["faces", "faces-field"])
def test_onnxruntime_yunet_equals_opencv_on_the_dev_sets_first_photos(detectors, folder) -> None:
    from imint.faces.datasets import read_face_folder
    from imint.media.images import load_image_file

    root = SHARED_DATA / folder
    if not (root / "manifest.csv").exists():
        pytest.skip(f"{root} not present")
    opencv, ours = detectors
    engine = get_engine()
    faces_seen = 0
    for img in read_face_folder(root, limit=30).images:
        rgb = load_image_file(img.path)
        found, expected = ours.detect(rgb), opencv.detect(rgb)
        _same(expected, found)
        if len(found):
            a = engine.embed(rgb, found).embeddings
            b = engine.embed(rgb, expected).embeddings
            assert np.abs(a - b).max() < EMBEDDING_TOLERANCE, img.path
        faces_seen += len(found)
    assert faces_seen >= 25
