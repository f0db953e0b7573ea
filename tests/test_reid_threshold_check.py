"""scripts/compare_reid_vectors.py --thresholds: the refit's re-identification cosines against the committed ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imint.faces.calibration import Calibration, fit_bin
from imint.faces.datasets import in_fit_half
from imint.faces.video.tracker import REID_FMR, REID_SFACE_COSINE
from tests.script_support import load_script


@pytest.fixture(scope="module")
def script():  # noqa: ANN201
    return load_script("scripts/compare_reid_vectors.py")


def test_threshold_check_reports_the_refit_and_the_held_back_fmr(script, tmp_path, capsys) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    people, photos = 120, 3
    names = np.repeat([f"person{i}" for i in range(people)], photos)
    centres = rng.normal(size=(people, 128))
    emb = centres[np.repeat(np.arange(people), photos)] + 2.0 * rng.normal(size=(people * photos, 128))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    n = len(emb)
    folder = tmp_path / "faces"
    cache = tmp_path / "cache"
    cache.mkdir()
    np.savez(
        cache / "faces-yunet-ort_sface.npz",
        rel=np.array([f"{i}.jpg" for i in range(n)]),
        identity=names,
        found=np.ones(n, bool),
        emb=emb.astype(np.float32),
        quality=np.full(n, 0.9, np.float32),  # every face "high"
        poor=np.zeros(n, bool),
    )
    # The refit table: high+high fitted on the fit-half identities' impostor pairs, as fit_calibration.py does.
    fit = np.array([in_fit_half(str(x)) for x in names])
    iu = np.triu_indices(n, 1)
    scores = (emb @ emb.T)[iu]
    impostor = (names[:, None] != names[None, :])[iu]
    fit_pairs = (fit[:, None] & fit[None, :])[iu]
    table = Calibration(model_id="yunet-ort/sface", bins={"high+high": fit_bin(scores[impostor & fit_pairs])})
    (tmp_path / "table.json").write_text(json.dumps([table.to_json()]))

    script.compare_thresholds(tmp_path / "table.json", cache, [folder], "yunet-ort/sface")
    out = capsys.readouterr().out
    refit = table.bins["high+high"].threshold(REID_FMR)
    assert f"high+high: committed {REID_SFACE_COSINE['high+high']:.3f}, refit {refit:.5f}" in out
    assert "medium+high: committed 0.215, no refit bin" in out
    held = (~fit[:, None] & ~fit[None, :])[iu] & impostor
    seen = float(np.mean(scores[held] >= refit))
    assert f"held-back FMR at the refit cosines (asked {REID_FMR:g}): {seen:.4f}" in out
    assert 0.003 < seen < 0.03  # a fit on one half holds on the other
