"""`imint eval faces` on a tiny labelled folder laid out like ../shared/data/faces."""

import csv

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from imint.cli import app
from tests.conftest import astronaut, grace_hopper


def _folder(root):
    a, g = astronaut(), grace_hopper()
    images = {
        "Eileen_Collins/1.png": a,
        "Eileen_Collins/2.jpg": a[10:400, 60:460],
        "Eileen_Collins/3.jpg": np.ascontiguousarray(a[:, ::-1]),
        "Grace_Hopper/1.jpg": g,
        "Grace_Hopper/2.jpg": g[30:500, 20:500],
    }
    for rel, img in images.items():
        (root / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / "images" / rel)
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "identity", "source"])
        for rel in images:
            w.writerow([f"images/{rel}", rel.split("/")[0], "test:" + rel])
    with open(root / "ident.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "identity", "role"])
        w.writerow(["images/Eileen_Collins/1.png", "Eileen_Collins", "gallery"])
        w.writerow(["images/Eileen_Collins/2.jpg", "Eileen_Collins", "probe"])
        w.writerow(["images/Eileen_Collins/3.jpg", "Eileen_Collins", "probe"])
        w.writerow(["images/Grace_Hopper/1.jpg", "Grace_Hopper", "distractor_probe"])
        w.writerow(["images/Grace_Hopper/2.jpg", "Grace_Hopper", "distractor_probe"])
    return root


def test_eval_writes_every_metric(tmp_path):
    folder = _folder(tmp_path / "faces")
    out = tmp_path / "eval.json"
    plot = tmp_path / "calibration.png"
    r = CliRunner().invoke(app, ["eval", "faces", str(folder), "--json", str(out), "--plot", str(plot)])
    assert r.exit_code == 0, r.output
    import json

    report = json.loads(out.read_text())
    assert report["images"] == 5 and report["faces_found"] == 5
    assert report["verification"]["auc"] == 1.0
    assert set(report["verification"]["tar_at_far"]) == {"0.01", "0.001", "0.0001"}
    ident = report["identification"]
    assert ident["rank1"] == 1.0 and ident["fnir_at_default"] == 0.0
    assert ident["fpir_at_default"] == 0.0
    # Nobody in this folder was used to fit the calibration, so every distractor checks it.
    assert ident["fpir_at_default_scope"] == "distractor identities the calibration was not fitted on"
    assert ident["fpir_at_default_heldout_probes"] == ident["distractor_probes"] == 2
    # 0 hits in 2 searches: the exact 95 % interval still reaches 84 %.
    assert ident["fpir_at_default_hits"] == 0 and ident["fpir_at_default_ci95"] == [0.0, 0.8419]
    assert set(ident["fnir_at_fpir"]) == {"0.1", "0.01"}
    assert report["clustering"]["pairwise_precision"] == 1.0
    assert report["seconds"] > 0 and report["faces_per_second"] > 0
    assert "TAR at FAR 0.001" in r.output
    # The calibration is checked on the folder: the one different-person pair of each of the
    # 3 x 2 astronaut / Grace Hopper photo pairs, asked against seen, at every operating point.
    cal = report["calibration"]
    assert cal["identities"] == 2
    assert set(cal["fmr"]) == {"0.01", "0.001", "0.0001"}
    assert all(r["pairs"] == 6 and r["hits"] == 0 and r["observed"] == 0.0 for r in cal["fmr"].values())
    # None seen in 6 pairs does not show an FMR below 46 %: the interval keeps the exact bound.
    assert all(r["ci95"] == [0.0, 0.4593] for r in cal["fmr"].values())
    assert set(cal["fpir"]) == {"0.001", "0.003", "0.01", "0.03", "0.1"}
    assert all(r["searches"] == 2 for r in cal["fpir"].values())
    assert "calibration: FMR asked 0.001, seen" in r.output
    assert Image.open(plot).size[0] > 500


def test_calibration_check_with_nobody_to_check_on_says_so():
    import dataclasses
    from types import SimpleNamespace

    from imint.faces.calibration import identity_key, load_calibration
    from imint.faces.engine import DEFAULT_MODEL
    from imint.faces.evaluate import _calibration_check

    service = SimpleNamespace(engine=SimpleNamespace(calibration=load_calibration(DEFAULT_MODEL)))
    emb = np.eye(3, 8, dtype=np.float32)
    check = _calibration_check(
        service, emb, np.full(3, 0.9), ["high"] * 3, np.ones(3, bool), np.array(["Eileen_Collins"] * 3)
    )
    assert check["identities"] == 1
    assert all(r["observed"] is None and r["pairs"] == 0 and r["ci95"] is None for r in check["fmr"].values())
    # Nobody at all when the table was fitted on everyone in the folder.
    fitted_on_her = dataclasses.replace(
        service.engine.calibration, fit_identities=frozenset({identity_key("Eileen_Collins")})
    )
    service = SimpleNamespace(engine=SimpleNamespace(calibration=fitted_on_her))
    check = _calibration_check(
        service, emb, np.full(3, 0.9), ["high"] * 3, np.ones(3, bool), np.array(["Eileen_Collins"] * 3)
    )
    assert check["identities"] == 0 and check["fmr"]["0.001"]["observed"] is None
