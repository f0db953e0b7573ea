"""dlib's ResNet converted to ONNX (training/faces/convert_dlib_resnet.py) computes dlib's descriptors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from imint.faces.dlib_onnx import DLIB_RESNET_FILE, DlibResNet, dlib_resnet
from imint.faces.models import DlibEmbedder, get_detector
from tests.conftest import astronaut, grace_hopper
from tests.script_support import load_script

SHARED_DATA = Path(
    os.environ.get("IMINT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
TOLERANCE = 1e-4


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _photos() -> dict[str, np.ndarray]:
    """Public-domain photos from installed packages, and copies that take other paths through imint."""
    astro, hopper = astronaut(), grace_hopper()
    camera = np.repeat(data.camera()[:, :, None], 3, axis=2)
    small = np.asarray(Image.fromarray(astro).resize((128, 128), Image.Resampling.BILINEAR))  # upsampled crop
    tilted = np.asarray(Image.fromarray(hopper).rotate(12, resample=Image.Resampling.BILINEAR))
    return {"astronaut": astro, "grace_hopper": hopper, "camera": camera, "small": small, "tilted": tilted}


@pytest.fixture(scope="module")
def dlib_net():
    import dlib
    import face_recognition_models as frm

    return dlib.face_recognition_model_v1(frm.face_recognition_model_location())


@pytest.fixture(scope="module")
def chips() -> dict[str, np.ndarray]:
    """The 150 px dlib chips imint cuts (DlibEmbedder.chips), one per photo."""
    detector, embedder = get_detector("yunet"), DlibEmbedder()
    out = {}
    for name, image in _photos().items():
        faces = detector.detect(image)
        assert len(faces) >= 1, name
        out[name] = embedder.chips(image, faces.select([0]))[0]
    return out


def _dlib(net, chip: np.ndarray) -> np.ndarray:
    return np.asarray(net.compute_face_descriptor(np.ascontiguousarray(chip)), np.float32)


def test_onnx_descriptors_equal_dlibs_on_real_faces_and_their_mirror_images(dlib_net, chips) -> None:
    batch = [c for chip in chips.values() for c in (chip, np.ascontiguousarray(chip[:, ::-1]))]
    ours = dlib_resnet().descriptors(batch)
    theirs = np.stack([_dlib(dlib_net, c) for c in batch])
    assert ours.shape == theirs.shape == (2 * len(chips), 128)
    assert np.abs(_unit(ours) - _unit(theirs)).max() < TOLERANCE
    assert np.abs(ours - theirs).max() < TOLERANCE  # dlib's raw (unnormalised) descriptor as well


def test_the_comparison_can_fail_faces_and_mirror_images_give_other_descriptors(dlib_net, chips) -> None:
    # The equality above is not trivial: a wrong chip (another face, or the mirror image that an
    # axis mix-up in the conversion would give) lands far outside the tolerance.
    ours = _unit(dlib_resnet().descriptors(list(chips.values())))
    theirs = _unit(np.stack([_dlib(dlib_net, c) for c in chips.values()]))
    names = list(chips)
    other_people = [(names.index("astronaut"), names.index("grace_hopper")), (0, names.index("camera"))]
    for i, j in other_people:
        assert np.abs(ours[i] - theirs[j]).max() > 100 * TOLERANCE
        assert np.linalg.norm(theirs[i] - theirs[j]) > 0.3  # dlib itself tells these people apart
    mirrored = _unit(_dlib(dlib_net, np.ascontiguousarray(chips["grace_hopper"][:, ::-1])))
    assert np.abs(ours[names.index("grace_hopper")] - mirrored).max() > 10 * TOLERANCE


def test_the_embedder_gives_what_dlib_gave_it_before(dlib_net) -> None:
    # DlibEmbedder used to sum dlib's descriptors of the chip and its mirror image, then normalise.
    image = _photos()["astronaut"]
    faces = get_detector("yunet").detect(image)
    embedder = DlibEmbedder()
    got = embedder.embed(image, faces)
    chips = embedder.chips(image, faces)
    before = _unit(np.stack([_dlib(dlib_net, c) + _dlib(dlib_net, c[:, ::-1]) for c in chips]))
    assert got.shape == (len(faces), 128)
    assert np.abs(got - before).max() < TOLERANCE
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_a_batch_is_cut_into_runs_and_an_empty_one_gives_no_rows(chips) -> None:
    net = dlib_resnet()
    some = list(chips.values())
    one_by_one = np.concatenate([net.descriptors([c]) for c in some])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("imint.faces.dlib_onnx.MAX_BATCH", 2)
        in_runs = net.descriptors(some)
    assert np.abs(one_by_one - in_runs).max() < 1e-5
    assert net.descriptors([]).shape == (0, 128)
    assert net.embed_chips([]).shape == (0, 128)
    with pytest.raises(ValueError, match="150x150"):
        net.descriptors([np.zeros((112, 112, 3), np.uint8)])


def test_a_missing_model_file_is_named(tmp_path) -> None:
    from imint.errors import NotFoundError

    with pytest.raises(NotFoundError, match="dlib_resnet.onnx"):
        DlibResNet(tmp_path / "dlib_resnet.onnx")


def _converter():
    return load_script("training/faces/convert_dlib_resnet.py")


@pytest.mark.slow
def test_the_installed_model_is_what_the_script_makes_from_the_wheels_file() -> None:
    import face_recognition_models as frm

    converter = _converter()
    raw = Path(frm.face_recognition_model_location()).read_bytes()
    assert converter.build_onnx(converter.read_dlib_net(raw)) == DLIB_RESNET_FILE.read_bytes()
    assert DLIB_RESNET_FILE.stat().st_size < 25_000_000


def test_the_reader_refuses_a_truncated_or_altered_file() -> None:
    import face_recognition_models as frm

    converter = _converter()
    raw = Path(frm.face_recognition_model_location()).read_bytes()
    with pytest.raises(converter.DlibFormatError, match="ends"):
        converter.read_dlib_net(raw[: len(raw) // 2])
    with pytest.raises(converter.DlibFormatError, match="left after"):
        converter.read_dlib_net(raw + b"\x00")
    altered = raw.replace(b"\x0dloss_metric_2", b"\x0dloss_metric_9", 1)
    with pytest.raises(converter.DlibFormatError, match="loss_metric_9"):
        converter.read_dlib_net(altered)


@pytest.mark.data
@pytest.mark.parametrize("folder", ["faces", "faces-field"])
def test_onnx_equals_dlib_on_the_dev_sets_first_photos(dlib_net, folder) -> None:
    # The field set's 25-35 px faces take DlibEmbedder's upsampled-crop path.
    from imint.faces.datasets import read_face_folder
    from imint.media.images import load_image_file

    root = SHARED_DATA / folder
    if not (root / "manifest.csv").exists():
        pytest.skip(f"{root} not present")
    detector, embedder = get_detector("yunet"), DlibEmbedder()
    chips = []
    for img in read_face_folder(root, limit=30).images:
        rgb = load_image_file(img.path)
        chips += embedder.chips(rgb, detector.detect(rgb))
    assert len(chips) >= 25
    batch = [c for chip in chips for c in (chip, np.ascontiguousarray(chip[:, ::-1]))]
    theirs = np.stack([_dlib(dlib_net, c) for c in batch])
    assert np.abs(_unit(dlib_resnet().descriptors(batch)) - _unit(theirs)).max() < TOLERANCE
