"""The tiny-face landmark refiner: geometry helpers, and that it moves landmarks the right way."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image, ImageFilter
from skimage import data

from imint.faces.landmarks import (
    CANVAS_TEMPLATE,
    LANDMARK_REFINER_FILE,
    canvas_transform,
    from_canvas,
    similarity,
    to_canvas,
)
from imint.faces.models import get_detector

needs_refiner = pytest.mark.skipif(not LANDMARK_REFINER_FILE.exists(), reason="landmark refiner not trained")


def _field_copy(image: np.ndarray, factor: float) -> np.ndarray:
    """make_field.py's recipe at another scale: shrink, blur 0.6 px, JPEG quality 30."""
    im = Image.fromarray(image)
    im = im.resize((round(im.width * factor), round(im.height * factor)), Image.BILINEAR)
    buf = io.BytesIO()
    im.filter(ImageFilter.GaussianBlur(0.6)).save(buf, "JPEG", quality=30)
    return np.asarray(Image.open(buf).convert("RGB"))


def _photos() -> list[np.ndarray]:
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    return [data.astronaut(), hopper]


def test_similarity_recovers_a_rotation_scale_and_shift() -> None:
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -2.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 50, (5, 2))
    m = similarity(src, src @ rot.T + shift)
    assert np.allclose(m[:, :2], rot) and np.allclose(m[:, 2], shift)


def test_canvas_coordinates_round_trip_and_put_the_landmarks_on_the_template() -> None:
    landmarks = np.array([[30.0, 40.0], [52.0, 41.0], [41.0, 55.0], [33.0, 66.0], [50.0, 66.0]])
    m = canvas_transform(landmarks)
    assert np.allclose(from_canvas(to_canvas(landmarks, m), m), landmarks)
    # Five points that are a similarity of the template land exactly on it.
    assert np.allclose(to_canvas(from_canvas(CANVAS_TEMPLATE, m), m), CANVAS_TEMPLATE)


@needs_refiner
def test_big_faces_keep_the_detectors_landmarks() -> None:
    image = data.astronaut()
    detector = get_detector("yunet")
    refined = detector.detect(image)
    plain = detector.detect(image, refine_landmarks=False)
    assert np.array_equal(refined.landmarks, plain.landmarks)


@needs_refiner
def test_refined_landmarks_of_field_copies_are_closer_to_the_sharp_photos() -> None:
    """On field-quality copies (faces of 14-30 px), the refined landmarks sit nearer to
    where the detector puts them on the sharp original than the detector's own."""
    detector = get_detector("yunet")
    before, after = [], []
    for photo in _photos():
        sharp = detector.detect(photo, refine_landmarks=False).landmarks[0]
        eye = float(np.linalg.norm(sharp[1] - sharp[0]))
        for factor in (0.12, 0.16, 0.2):
            small = _field_copy(photo, factor)
            scale = np.array([small.shape[1] / photo.shape[1], small.shape[0] / photo.shape[0]])
            truth = (sharp + 0.5) * scale - 0.5
            plain = detector.detect(small, refine_landmarks=False)
            refined = detector.detect(small)
            assert len(plain) and len(refined)
            assert not np.array_equal(plain.landmarks[0], refined.landmarks[0])
            before.append(np.linalg.norm(plain.landmarks[0] - truth, axis=1).mean() / (eye * scale[0]))
            after.append(np.linalg.norm(refined.landmarks[0] - truth, axis=1).mean() / (eye * scale[0]))
    assert np.mean(after) < 0.85 * np.mean(before), (before, after)


@needs_refiner
def test_video_frames_get_refined_landmarks_too() -> None:
    """``detect_frame`` refines a tiny face's landmarks like photo detection does."""
    from imint.faces.engine import get_engine
    from imint.faces.video import detect_frame

    frame = _field_copy(data.astronaut(), 0.16)
    detector = get_detector("yunet")
    from_frame = detect_frame(get_engine(), frame)
    assert len(from_frame)
    assert np.allclose(from_frame.landmarks[0], detector.detect(frame).landmarks[0], atol=1e-4)
    assert not np.allclose(
        from_frame.landmarks[0], detector.detect(frame, refine_landmarks=False).landmarks[0]
    )
