"""The fusion / quality / mirror-pass study's scoring (training/faces/quality_fusion_study.py) on synthetic faces.

The study's figures are those of ``imint eval faces`` (checked on the dev sets: docs/face-accuracy.md); here the
scoring itself is held to cases whose answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.script_support import load_script


@pytest.fixture(scope="module")
def study():  # noqa: ANN201
    return load_script("training/faces/quality_fusion_study.py")


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _faces(noise: float, people: int = 40, photos: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic faces: each person a random direction in both halves, each photo that plus noise."""
    rng = np.random.default_rng(seed)
    centre_s, centre_d = rng.normal(size=(people, 128)), rng.normal(size=(people, 128))
    n = people * photos
    who = np.repeat(np.arange(people), photos)
    s = _l2(centre_s[who] + noise * rng.normal(size=(n, 128)))
    d = _l2(centre_d[who] + noise * rng.normal(size=(n, 128)))
    return {
        "s": s,
        "d": d,
        "emb": np.concatenate([s, d], 1) / np.sqrt(2),
        "identity": np.array([f"p{i}" for i in who]),
        "found": np.ones(n, bool),
        "poor": np.zeros(n, bool),
    }


def _roles(f: dict[str, np.ndarray], photos: int = 4) -> dict[str, np.ndarray]:
    """First photo of the first half of the people enrolled, their others probes; the rest distractors."""
    n = len(f["s"])
    person, photo = np.arange(n) // photos, np.arange(n) % photos
    enrolled = person < person.max() / 2
    return {
        "gallery": np.flatnonzero(enrolled & (photo == 0)),
        "probe": np.flatnonzero(enrolled & (photo > 0)),
        "distractor_probe": np.flatnonzero(~enrolled),
    }


def test_equal_weights_score_as_the_fused_vector(study) -> None:  # noqa: ANN001
    f = _faces(noise=1.0)
    idx = np.arange(len(f["s"]))
    scores = study.fused_scores(f, idx, np.full(len(idx), np.sqrt(0.5)))
    np.testing.assert_allclose(scores, f["emb"] @ f["emb"].T, atol=1e-9)


def test_separable_faces_score_perfectly_and_noise_costs(study) -> None:  # noqa: ANN001
    a = np.full(160, np.sqrt(0.5))
    clean = _faces(noise=0.2)
    m = study.metrics(clean, _roles(clean), np.ones(160, bool), a)
    assert m == {"tar1e-3": 1.0, "rank1": 1.0, "fnir1%": 0.0, "genuine_below": 0}
    noisy = _faces(noise=12.0)
    m = study.metrics(noisy, _roles(noisy), np.ones(160, bool), a)
    assert m["tar1e-3"] < 0.9 and m["genuine_below"] > 0


def test_a_poor_probe_never_matches(study) -> None:  # noqa: ANN001
    f = _faces(noise=0.2)
    role = _roles(f)
    poor = np.zeros(160, bool)
    poor[role["probe"][:6]] = True
    m = study.metrics(f, role, np.ones(160, bool), np.full(160, np.sqrt(0.5)), poor=poor)
    assert m["rank1"] == pytest.approx(1 - 6 / len(role["probe"]))


def test_all_weight_on_one_embedder_ignores_the_other(study) -> None:  # noqa: ANN001
    f = _faces(noise=0.2)
    rng = np.random.default_rng(1)
    f["d"] = _l2(rng.normal(size=f["d"].shape))  # dlib half: noise only
    role, every = _roles(f), np.ones(160, bool)
    sface_only = study.metrics(f, role, every, np.ones(160))
    fused = study.metrics(f, role, every, np.full(160, np.sqrt(0.5)))
    assert sface_only["tar1e-3"] == 1.0 and sface_only["rank1"] == 1.0
    assert fused["genuine_below"] >= sface_only["genuine_below"]


def test_logistic_fit_is_calibrated_and_monotone(study) -> None:  # noqa: ANN001
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4000, 1))
    p_true = 1 / (1 + np.exp(-(-1.0 - 1.5 * x[:, 0])))
    trials = rng.integers(1, 6, size=4000)
    fails = rng.binomial(trials, p_true)
    predict, w = study.fit_logistic(x, fails.astype(float), trials.astype(float))
    p = predict(x)
    assert w[1] < -1.0  # failures fall as the feature rises
    assert (p * trials).sum() / trials.sum() == pytest.approx(fails.sum() / trials.sum(), abs=0.01)
    assert np.corrcoef(p, p_true)[0, 1] > 0.99


def test_flagging_the_failing_faces_lowers_the_kept_fnmr(study) -> None:  # noqa: ANN001
    f = _faces(noise=0.2)
    bad = np.arange(0, 160, 8)  # one photo of every second person made unrecognisable
    rng = np.random.default_rng(3)
    f["s"][bad] = _l2(rng.normal(size=(len(bad), 128)))
    f["d"][bad] = _l2(rng.normal(size=(len(bad), 128)))
    every = np.ones(160, bool)
    none, _ = study.fnmr_kept(f, every, np.zeros(160, bool))
    flagged = np.zeros(160, bool)
    flagged[bad] = True
    kept, pairs = study.fnmr_kept(f, every, flagged)
    assert none > 0.05 and kept == 0.0 and pairs > 0


@pytest.fixture(scope="module")
def bins_study():  # noqa: ANN201
    return load_script("training/faces/norm_bins_study.py")


def test_operating_point_finds_the_enrolled_and_misses_a_poor_probe(study, bins_study) -> None:  # noqa: ANN001
    from imint.faces.calibration import Calibration, fit_bin

    f = _faces(noise=0.6)
    role = _roles(f)
    f["rel"] = np.array([f"{i}.jpg" for i in range(160)])
    rows = [(f"{i}.jpg", str(f["identity"][i]), r) for r, idx in role.items() for i in idx]
    iu = np.triu_indices(160, 1)
    impostor = (f["identity"][:, None] != f["identity"][None, :])[iu]
    cal = Calibration(model_id="t", bins={"high+high": fit_bin((f["emb"] @ f["emb"].T)[iu][impostor])})
    quality = np.full(160, 0.9)
    every = np.ones(160, bool)
    m = bins_study.operating_point(f, rows, every, quality, cal)
    assert m == {"fnir": 0.0, "fpir": 0.0, "hits": 0, "distractors": len(role["distractor_probe"])}
    f["poor"][role["probe"][0]] = True
    m = bins_study.operating_point(f, rows, every, quality, cal)
    assert m["fnir"] == pytest.approx(1 / len(role["probe"]))
