"""The face engine on real public-domain photos: detect, quality, embed, compare."""

import numpy as np
import pytest

import imint.faces as faces
from imint.faces.calibration import load_calibration
from imint.faces.engine import DEFAULT_MODEL
from imint.faces.quality import is_poor
from tests.conftest import astronaut, grace_hopper


def test_detects_one_good_face_with_landmarks_inside_the_box():
    found = faces.detect(astronaut())
    assert len(found) == 1
    box, lm = found.boxes[0], found.landmarks[0]
    assert box[0] < lm[:, 0].min() and lm[:, 0].max() < box[2]
    assert box[1] < lm[:, 1].min() and lm[:, 1].max() < box[3]
    assert found.quality_reason[0] == "high"


def test_same_person_scores_higher_than_different_person():
    a = faces.embed(astronaut())
    a_small = faces.embed(astronaut()[::2, ::2].copy())  # half resolution
    g = faces.embed(grace_hopper())
    assert a.shape == (1, faces.embedding_dim())
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    same, different = faces.compare(a[0], a_small[0]), faces.compare(a[0], g[0])
    assert same > 0.8 > 0.6 > different


def test_no_face_and_tiny_face():
    blank = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    assert len(faces.detect(blank)) == 0
    tiny = astronaut()[::8, ::8].copy()  # 64 px image: the face is about 12 px wide
    found = faces.detect(tiny)
    assert all(is_poor(r) for r in found.quality_reason)


def test_many_faces_in_one_image_are_all_found():
    face = astronaut()[20:240, 120:300]  # one face with some margin, 220 x 180
    face = face[::2, ::2]
    grid = np.tile(face, (10, 20, 1))  # 200 faces
    found = faces.detect(grid)
    assert len(found) >= 180


def test_calibration_is_monotone_and_consistent():
    cal = load_calibration(DEFAULT_MODEL)
    for q in (0.2, 0.5, 0.9):
        scores = np.linspace(-0.2, 1.0, 50)
        fmr = [cal.fmr(s, q) for s in scores]
        assert all(b <= a + 1e-12 for a, b in zip(fmr, fmr[1:], strict=False))
        for target in (1e-2, 1e-3, 1e-4):
            t = cal.threshold_for_fmr(target, q)
            assert cal.fmr(t, q) == pytest.approx(target, rel=0.05)
    # A stricter operating point needs a higher score, and so does a bigger gallery.
    assert cal.threshold_for_fpir(0.001, 0.9, 100) > cal.threshold_for_fpir(0.01, 0.9, 100)
    assert cal.threshold_for_fpir(0.01, 0.9, 10_000) > cal.threshold_for_fpir(0.01, 0.9, 100)


def test_a_better_embedder_drops_in_by_name():
    from imint.faces.models import get_embedder, register_embedder

    class Constant:
        name, dim = "constant", 4

        def embed(self, image, found):
            return np.tile(np.array([1.0, 0, 0, 0], np.float32), (len(found), 1))

    register_embedder("constant", Constant)
    assert get_embedder("constant").dim == 4
    with pytest.raises(ValueError, match="unknown face embedder"):
        get_embedder("no-such-model")


def test_fmr_of_a_score_falls_as_the_score_rises():
    low, high = faces.face_fmr(0.2), faces.face_fmr(0.8)
    assert 0 < high < 1e-3 < low <= 1


def test_calibration_records_whom_it_was_fitted_on_without_their_names():
    from imint.faces.calibration import Calibration, identity_key

    cal = load_calibration(DEFAULT_MODEL)
    # The committed table was fitted on half of the development people; these two are not among them.
    assert cal.fit_identities and all(len(k) == 16 for k in cal.fit_identities)
    assert cal.was_fitted_on("Eileen_Collins") is False
    stored = cal.to_json()
    assert "Eileen_Collins" not in str(stored)
    fitted = Calibration.from_json({**stored, "fit_identity_sha1": [identity_key("Eileen_Collins")]})
    assert fitted.was_fitted_on("Eileen_Collins") is True
    # A table that does not say whom it was fitted on cannot answer.
    unknown = Calibration.from_json({k: v for k, v in stored.items() if k != "fit_identity_sha1"})
    assert unknown.was_fitted_on("Eileen_Collins") is None


def test_the_tiny_flip_engine_gives_a_clean_face_one_pass_and_a_tiny_face_the_previous_vector():
    from PIL import Image

    from imint.faces.engine import PREVIOUS_MODEL, TINY_FLIP_EMBEDDER, get_engine
    from imint.faces.models import TINY_FACE_UPSAMPLING, alignment_upsampling

    # The previous default (both mirror passes on every face) against the same detector with tiny-flip.
    default, tiny_flip = get_engine(PREVIOUS_MODEL), get_engine(f"yunet/{TINY_FLIP_EMBEDDER}")
    astro = astronaut()
    small = np.asarray(Image.fromarray(astro).resize((96, 96), Image.Resampling.BILINEAR))
    for image, tiny in ((astro, False), (small, True)):
        faces = default.detect(image).select([0])
        assert (alignment_upsampling(faces.landmarks[0]) >= TINY_FACE_UPSAMPLING) is tiny
        a = default.embed(image, faces.select([0])).embeddings[0]
        b = tiny_flip.embed(image, faces.select([0])).embeddings[0]
        if tiny:
            assert np.abs(a - b).max() < 1e-5
        else:
            # The same face (one pass is close to two) but not the same vector.
            assert 0.97 < float(a @ b) < 0.99999


def test_the_default_model_and_the_previous_one_are_both_calibrated():
    from imint.faces.engine import PREVIOUS_MODEL, TINY_FLIP_EMBEDDER

    assert DEFAULT_MODEL == f"yunet-ort/{TINY_FLIP_EMBEDDER}"
    fresh, old = load_calibration(DEFAULT_MODEL), load_calibration(PREVIOUS_MODEL)
    assert fresh.model_id == DEFAULT_MODEL and old.model_id == PREVIOUS_MODEL
    assert fresh.bins.keys() and fresh.fit_identities  # a fit of its own, not a copy of the old table
    assert any(
        not np.array_equal(fresh.bins[b].score, old.bins[b].score)
        for b in fresh.bins.keys() & old.bins.keys()
    )
