"""Would SFace's norm make better calibration bins? The default operating point with and without it (issue 17).

    .venv/bin/python training/faces/norm_bins_study.py .cache/quality/faces.npz .cache/quality/faces-field.npz \
        --data ../shared/data

The bins today: each face's ``quality_bin`` (clean faces "high", field faces "medium"). Tried: the same, with the
tiny faces whose SFace norm is below the 30 % or 50 % quantile of the field fit identities' put in "low" of their own. Both tables
are fitted the way scripts/fit_calibration.py fits them (``fit_bin`` on the different-person pairs of the fit
identities of both sets, within and across sets; the effective share ``c`` from the fit identities' stranger
searches) and both are read on the check identities, each set's check subset as its own folder, with the matcher
of ``imint.faces.search.match_faces``: per person its best reference, the top 5 people, taken for the first whose
score clears the threshold for FPIR 1 % at the two faces' pair bin. The first row uses the committed table and
must give `imint eval faces`'s figures on the check subsets.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
from pathlib import Path

import numpy as np

from imint.faces.calibration import DEFAULT_FPIR, Calibration, fit_bin, load_calibration
from imint.faces.datasets import identity_split, in_fit_half
from imint.faces.engine import DEFAULT_MODEL

FIT_CALIBRATION = Path(__file__).resolve().parents[2] / "scripts" / "fit_calibration.py"
TOP_K = 5
# Qualities standing for the bins (Calibration looks tables up by quality).
BIN_QUALITY = {"low": 0.2, "medium": 0.5, "high": 0.9}


def _fit_calibration_module():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("fit_calibration", FIT_CALIBRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path: Path, field: bool) -> dict[str, np.ndarray]:
    data = dict(np.load(path, allow_pickle=False))
    data["field"] = np.full(len(data["rel"]), field)
    return data


def ident_rows(folder: Path) -> list[tuple[str, str, str]]:
    with open(folder / "ident.csv", newline="") as fh:
        return [(r["path"], r["identity"], r["role"]) for r in csv.DictReader(fh)]


def operating_point(f: dict, rows: list, keep: np.ndarray, quality: np.ndarray, cal: Calibration) -> dict:
    """FNIR and FPIR at the default operating point on the images of identities ``keep`` selects."""
    pos = {r: i for i, r in enumerate(f["rel"].tolist())}
    rows = [(pos[p], ident, role) for p, ident, role in rows if p in pos and keep[pos[p]]]
    refs = np.array([i for i, _, role in rows if role == "gallery" and f["found"][i] and not f["poor"][i]])
    ref_ident = f["identity"][refs]
    emb = f["emb"]

    def decide(i: int) -> str | None:
        if not f["found"][i] or f["poor"][i]:
            return None
        sc = emb[refs] @ emb[i]
        best: dict[str, tuple[float, int]] = {}
        for s, r, who in zip(sc, refs, ref_ident, strict=True):
            if who not in best or s > best[who][0]:
                best[who] = (float(s), int(r))
        for who, (s, r) in sorted(best.items(), key=lambda kv: -kv[1][0])[:TOP_K]:
            if s >= cal.threshold_for_fpir(DEFAULT_FPIR, float(quality[i]), len(refs), float(quality[r])):
                return str(who)
        return None

    probes = [(i, ident) for i, ident, role in rows if role == "probe"]
    distractors = [i for i, _, role in rows if role == "distractor_probe"]
    fnir = np.mean([decide(i) != ident for i, ident in probes])
    hits = sum(decide(i) is not None for i in distractors)
    return {
        "fnir": float(fnir),
        "fpir": hits / len(distractors),
        "hits": hits,
        "distractors": len(distractors),
    }


def fit_table(
    sets: list[dict], fits: list[np.ndarray], quality: list[np.ndarray], rows: list, fc
) -> Calibration:  # noqa: ANN001
    """As scripts/fit_calibration.py: pair-bin tables from fit pairs, then the effective share c."""
    arrays = [
        {"emb": s["emb"], "identity": s["identity"], "quality": q, "found": s["found"], "poor": s["poor"]}
        for s, q in zip(sets, quality, strict=True)
    ]
    scores = fc.impostor_scores_by_bin(arrays, [lambda i, m=m: m[i] for m in fits_by_identity(sets, fits)])
    bins = {b: fit_bin(sc) for b, sc in scores.items() if len(sc) >= 1000}
    cal = Calibration(model_id="study", bins=bins)
    mins, n_refs = [], 0
    for a, s, fit, root_rows in zip(arrays, sets, fits, rows, strict=True):
        m, n_refs = stranger_min_fmr(a, s, fit, root_rows, cal)
        mins.append(m)
    cal.effective_fraction = fc.fit_effective_fraction(np.concatenate(mins), n_refs)
    return cal


def fits_by_identity(sets: list[dict], fits: list[np.ndarray]) -> list[dict[str, bool]]:
    return [
        dict(zip(s["identity"].tolist(), fit.tolist(), strict=True))
        for s, fit in zip(sets, fits, strict=True)
    ]


def stranger_min_fmr(
    a: dict, s: dict, fit: np.ndarray, rows: list, cal: Calibration
) -> tuple[np.ndarray, int]:
    """scripts/fit_calibration.py's stranger searches of fit identities, on these arrays."""
    pos = {r: i for i, r in enumerate(s["rel"].tolist())}
    g = np.array(
        [pos[p] for p, _, role in rows if role == "gallery" and a["found"][pos[p]] and not a["poor"][pos[p]]]
    )
    g_set = set(g.tolist())
    out = []
    for d in range(len(s["rel"])):
        if not fit[d] or not a["found"][d] or a["poor"][d] or d in g_set:
            continue
        others = g[a["identity"][g] != a["identity"][d]]
        sc = a["emb"][others] @ a["emb"][d]
        out.append(min(cal.fmr(x, a["quality"][d], a["quality"][r]) for x, r in zip(sc, others, strict=True)))
    return np.array(out), len(g)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clean", type=Path)
    ap.add_argument("field", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = ap.parse_args()
    fc = _fit_calibration_module()
    sets = [load(args.clean, False), load(args.field, True)]
    rows = [ident_rows(args.data / "faces"), ident_rows(args.data / "faces-field")]
    fits = [
        np.array([in_fit_half(i) for i in sets[0]["identity"].tolist()]),
        np.array([identity_split(i) == "calibration" for i in sets[1]["identity"].tolist()]),
    ]
    checks = [np.array([identity_split(i) == "check" for i in s["identity"].tolist()]) for s in sets]
    field_fit_norms = sets[1]["sface_norm"][fits[1] & sets[1]["found"]]
    today = [s["quality"].astype(np.float64) for s in sets]
    variants = [
        ("committed table, today's bins", today, load_calibration(DEFAULT_MODEL)),
        ("refit here, today's bins", today, None),
    ]
    for share in (0.3, 0.5):
        cut = float(np.quantile(field_fit_norms, share))
        with_norm = [
            np.where((s["upsampling"] >= 2.0) & (s["sface_norm"] < cut), BIN_QUALITY["low"], s["quality"])
            for s in sets
        ]
        variants.append(
            (
                f"refit here, tiny faces with SFace norm < {cut:.2f} (field fit {share:.0%}) in 'low'",
                with_norm,
                None,
            )
        )
    for label, quality, cal in variants:
        cal = cal or fit_table(sets, fits, quality, rows, fc)
        cells = []
        for name, s, r, check, q in zip(("clean", "field"), sets, rows, checks, quality, strict=True):
            m = operating_point(s, r, check, q, cal)
            cells.append(
                f"{name} FNIR {m['fnir']:.4f}, FPIR {m['fpir']:.4f} ({m['hits']} of {m['distractors']})"
            )
        print(f"{label} (c {cal.effective_fraction:.3f}; bins {sorted(cal.bins)}): " + "; ".join(cells))


if __name__ == "__main__":
    main()
