"""Quality-weighted fusion, a learned quality score and the mirror-pass policy, fitted on one split of
identities and read on another (issue 17; docs/face-accuracy.md, "Fusion, quality and mirror passes").

    .venv/bin/python training/faces/quality_fusion_study.py .cache/quality/faces.npz \
        .cache/quality/faces-field.npz --data ../shared/data

Input: ``face_features.py``'s per-face features of the clean and the field set. Fit identities: the
calibration's (clean: ``in_fit_half``; field: ``identity_split == "calibration"``, as
scripts/fit_calibration.py); everything is read on the ``check`` identities (odd SHA-1 byte), which
neither the field network, its adapter, the refiner nor the calibration saw. Figures follow ``imint eval
faces``: TAR at FAR 1e-3 over every image pair, rank-1 and FNIR at FPIR 1 % from ``ident.csv`` with the
best score per enrolled person; a face flagged "poor" never matches (and is no reference).
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from imint.faces.datasets import identity_split, in_fit_half
from imint.faces.quality import quality_bin


def load(path: Path) -> dict[str, np.ndarray]:
    data = dict(np.load(path, allow_pickle=False))
    emb = data["emb"].astype(np.float64)
    data["s"] = _l2(emb[:, :128])
    data["d"] = _l2(emb[:, 128:])
    return data


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def roles(folder: Path, rels: np.ndarray) -> dict[str, np.ndarray]:
    index = {r: i for i, r in enumerate(rels.tolist())}
    out: dict[str, list[int]] = {"gallery": [], "probe": [], "distractor_probe": []}
    with open(folder / "ident.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["path"] in index and row["role"] in out:
                out[row["role"]].append(index[row["path"]])
    return {k: np.array(v, int) for k, v in out.items()}


def fused_scores(f: dict, idx: np.ndarray, a: np.ndarray, s_key: str = "s", d_key: str = "d") -> np.ndarray:
    """Score matrix of faces ``idx`` with per-face SFace weights ``a`` (dlib weight sqrt(1 - a^2))."""
    b = np.sqrt(1 - a[idx] ** 2)
    s, d = f[s_key][idx], f[d_key][idx]
    return np.outer(a[idx], a[idx]) * (s @ s.T) + np.outer(b, b) * (d @ d.T)


def metrics(
    f: dict, role: dict, keep: np.ndarray, a: np.ndarray, poor: np.ndarray | None = None, **keys: str
) -> dict[str, float]:
    """TAR at FAR 1e-3, rank-1 and FNIR at FPIR 1 % on the images of identities ``keep`` selects."""
    poor = f["poor"] if poor is None else poor
    idx = np.flatnonzero(keep)
    sc = fused_scores(f, idx, a, **keys)
    ids = f["identity"][idx]
    found = f["found"][idx]
    iu = np.triu_indices(len(idx), 1)
    s = np.where((found[:, None] & found[None, :])[iu], sc[iu], -2.0)
    same = (ids[:, None] == ids[None, :])[iu]
    gen, imp = s[same], np.sort(s[~same])[::-1]
    thr = imp[int(1e-3 * len(imp))]
    tar = float((gen > thr).mean())
    pos = {int(g): k for k, g in enumerate(idx)}
    gal = [g for g in role["gallery"] if g in pos and f["found"][g] and not poor[g]]
    gal_ids = f["identity"][gal]
    persons = np.array(sorted(set(gal_ids.tolist())))

    def best(rows: np.ndarray) -> np.ndarray:
        rows = [r for r in rows if r in pos]
        m = sc[np.ix_([pos[r] for r in rows], [pos[g] for g in gal])]
        out = np.stack([m[:, gal_ids == p].max(1) for p in persons], 1)
        usable = np.array([f["found"][r] and not poor[r] for r in rows])
        out[~usable] = -np.inf
        return out, rows

    ps, prow = best(role["probe"])
    ds, _ = best(role["distractor_probe"])
    true = np.array([np.searchsorted(persons, f["identity"][r]) for r in prow])
    enrolled = np.isin(f["identity"][prow], persons)
    rank1 = float(np.mean(enrolled & np.isfinite(ps).any(1) & (ps.argmax(1) == np.where(enrolled, true, -1))))
    ts = np.where(enrolled, ps[np.arange(len(prow)), np.clip(true, 0, len(persons) - 1)], -np.inf)
    dmax = np.sort(ds.max(1))[::-1]
    fnir = float(1 - np.mean(ts > dmax[int(0.01 * len(dmax))]))
    return {"tar1e-3": tar, "rank1": rank1, "fnir1%": fnir, "genuine_below": int((gen <= thr).sum())}


def splits(f: dict, field: bool) -> tuple[np.ndarray, np.ndarray]:
    ids = f["identity"].tolist()
    fit = np.array([(identity_split(i) == "calibration") if field else in_fit_half(i) for i in ids])
    check = np.array([identity_split(i) == "check" for i in ids])
    return fit, check


def fmt(m: dict) -> str:
    return f"TAR@1e-3 {m['tar1e-3']:.4f} ({m['genuine_below']} below)  rank-1 {m['rank1']:.4f}  FNIR@1% {m['fnir1%']:.4f}"


# --- 1. quality-weighted fusion -------------------------------------------------------------------------
def fusion_study(sets: list[tuple[str, dict, dict, bool]]) -> None:
    print("\n== 1. fusion weight per quality bin of each face (SFace weight a, dlib sqrt(1 - a^2))")
    base = {name: np.full(len(f["s"]), np.sqrt(0.5)) for name, f, _, _ in sets}
    for name, f, role, field in sets:
        fit, check = splits(f, field)
        bins = np.array([quality_bin(q) for q in f["quality"]])
        tiny = f["upsampling"] >= 2.0
        print(f"{name}: quality bins {dict(Counter(bins.tolist()))}; tiny {tiny.sum()}")
        print(f"  fixed fusion (today), fit ids:   {fmt(metrics(f, role, fit, base[name]))}")
        print(f"  fixed fusion (today), check ids: {fmt(metrics(f, role, check, base[name]))}")
    # Grid over the SFace angle for tiny (field) and other (clean) faces: two weights, chosen on the fit
    # identities by the sum over both sets of TAR at 1e-3 + rank-1 - FNIR at FPIR 1 %.
    angles = np.radians(np.arange(25, 71, 5))

    def weights(f: dict, th_tiny: float, th_clean: float) -> np.ndarray:
        return np.where(f["upsampling"] >= 2.0, np.cos(np.pi / 2 - th_tiny), np.cos(np.pi / 2 - th_clean))

    results = []
    for th_t in angles:
        for th_c in angles:
            score = 0.0
            for _name, f, role, field in sets:
                fit, _ = splits(f, field)
                m = metrics(f, role, fit, weights(f, th_t, th_c))
                score += m["tar1e-3"] + m["rank1"] - m["fnir1%"]
            results.append((score, th_t, th_c))
    results.sort(reverse=True)
    print("  best on fit identities (angle of SFace from the dlib axis, 45 = today):")
    for score, th_t, th_c in results[:5]:
        print(f"    tiny {np.degrees(th_t):.0f} deg, clean {np.degrees(th_c):.0f} deg: objective {score:.4f}")
    _, th_t, th_c = results[0]
    for name, f, role, field in sets:
        fit, check = splits(f, field)
        w = weights(f, th_t, th_c)
        print(f"  {name} fitted weights, fit ids:   {fmt(metrics(f, role, fit, w))}")
        print(f"  {name} fitted weights, check ids: {fmt(metrics(f, role, check, w))}")
    # Per quality bin (medium / high) instead of tiny / not.
    best_q = None
    for th_m in angles:
        for th_h in angles:
            score = 0.0
            for _name, f, role, field in sets:
                fit, _ = splits(f, field)
                hi = np.array([quality_bin(q) == "high" for q in f["quality"]])
                w = np.where(hi, np.cos(np.pi / 2 - th_h), np.cos(np.pi / 2 - th_m))
                m = metrics(f, role, fit, w)
                score += m["tar1e-3"] + m["rank1"] - m["fnir1%"]
            if best_q is None or score > best_q[0]:
                best_q = (score, th_m, th_h)
    _, th_m, th_h = best_q
    print(f"  by quality bin: best medium {np.degrees(th_m):.0f} deg, high {np.degrees(th_h):.0f} deg")
    print("  the high bin's angle around the fitted one (medium 45 deg), all / fit / check identities:")
    for name, f, role, field in sets:
        fit, check = splits(f, field)
        hi = np.array([quality_bin(q) == "high" for q in f["quality"]])
        for deg in (45, 42.5, 40, 37.5, 35):
            w = np.where(hi, np.sin(np.radians(deg)), np.sin(np.radians(45)))
            every = np.ones(len(w), bool)
            print(
                f"    {name} high {deg:>4} deg: all {fmt(metrics(f, role, every, w))}\n{'':>24}"
                f"fit {fmt(metrics(f, role, fit, w))}\n{'':>24}check {fmt(metrics(f, role, check, w))}"
            )
    for name, f, role, field in sets:
        fit, check = splits(f, field)
        hi = np.array([quality_bin(q) == "high" for q in f["quality"]])
        w = np.where(hi, np.cos(np.pi / 2 - th_h), np.cos(np.pi / 2 - th_m))
        print(f"  {name} per-bin weights, check ids: {fmt(metrics(f, role, check, w))}")


# --- 2. a learned quality score --------------------------------------------------------------------------
def quality_features(f: dict) -> np.ndarray:
    return np.column_stack(
        [
            np.log(np.maximum(f["sface_norm"], 1e-3)),
            np.log(np.maximum(f["eye_distance"], 1.0)),
            np.abs(f["yaw"]),
            np.log(np.maximum(f["sharpness"], 1e-3)),
            f["det_score"],
            f["quality"],
            np.log(np.maximum(f["upsampling"], 0.1)),
        ]
    )


FEATURE_NAMES = (
    "log SFace norm",
    "log eye distance",
    "|yaw|",
    "log sharpness",
    "detector score",
    "quality",
    "log upsampling",
)


def _scored_at_1e3(f: dict, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The found faces within ``keep`` (``idx``), their fused score matrix with today's equal weights, their
    identities, which upper-triangle pairs are genuine, and the set's threshold at FAR 1e-3."""
    idx = np.flatnonzero(keep & f["found"])
    sc = fused_scores(f, idx, np.full(len(f["s"]), np.sqrt(0.5)))
    ids = f["identity"][idx]
    iu = np.triu_indices(len(idx), 1)
    same = (ids[:, None] == ids[None, :])[iu]
    imp = np.sort(sc[iu][~same])[::-1]
    return idx, sc, ids, same, float(imp[int(1e-3 * len(imp))])


def genuine_failures(f: dict, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per face: its genuine pairs (within ``keep``) and how many fall at or below the set's 1e-3 threshold."""
    idx, sc, ids, _same, thr = _scored_at_1e3(f, keep)
    gen_mask = (ids[:, None] == ids[None, :]) & ~np.eye(len(idx), dtype=bool)
    fails = ((sc <= thr) & gen_mask).sum(1)
    return idx, fails, gen_mask.sum(1), thr


def fnmr_kept(f: dict, keep: np.ndarray, flagged: np.ndarray) -> tuple[float, int]:
    """FNMR at the set's 1e-3 threshold over genuine pairs of two unflagged faces."""
    idx, sc, _ids, same, thr = _scored_at_1e3(f, keep)
    iu = np.triu_indices(len(idx), 1)
    ok = ~flagged[idx]
    both = (ok[:, None] & ok[None, :])[iu] & same
    return float((sc[iu][both] <= thr).mean()), int(both.sum())


def fit_logistic(x: np.ndarray, fails: np.ndarray, trials: np.ndarray, ridge: float = 1e-2):
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.column_stack([np.ones(len(x)), (x - mu) / sd])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1 / (1 + np.exp(-z @ w))
        p = np.clip(p, 1e-9, 1 - 1e-9)
        ll = fails * np.log(p) + (trials - fails) * np.log(1 - p)
        grad = z.T @ (trials * p - fails)
        return -ll.sum() + ridge * (w[1:] ** 2).sum(), grad + 2 * ridge * np.r_[0, w[1:]]

    w = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B").x
    return lambda xx: 1 / (1 + np.exp(-(np.column_stack([np.ones(len(xx)), (xx - mu) / sd]) @ w))), w


# Feature subsets tried for the learned score (columns of ``quality_features``).
QUALITY_MODELS = {
    "SFace norm only": (0,),
    "norm + eye distance": (0, 1),
    "norm + today's quality": (0, 5),
    "all seven": (0, 1, 2, 3, 4, 5, 6),
}


def quality_study(sets: list[tuple[str, dict, dict, bool]]) -> None:
    print("\n== 2. learned quality: P(a genuine pair of this face falls below the 1e-3 threshold)")
    xs, fs, ts = [], [], []
    for _name, f, _role, field in sets:
        fit, _ = splits(f, field)
        idx, fails, trials, _ = genuine_failures(f, fit)
        xs.append(quality_features(f)[idx])
        fs.append(fails)
        ts.append(trials)
    x_fit, f_fit, t_fit = np.concatenate(xs), np.concatenate(fs), np.concatenate(ts)
    models = {}
    for label, cols in QUALITY_MODELS.items():
        predict, w = fit_logistic(x_fit[:, cols], f_fit, t_fit)
        models[label] = (cols, predict)
        print(
            f"  {label}: standardised coefficients, intercept {w[0]:.2f}; "
            + ", ".join(f"{FEATURE_NAMES[c]} {v:+.2f}" for c, v in zip(cols, w[1:], strict=True))
        )
    rng = np.random.default_rng(0)
    for name, f, _role, field in sets:
        _, check = splits(f, field)
        idx, fails, trials, _thr = genuine_failures(f, check)
        x = quality_features(f)
        print(f"  {name} check ids: genuine-pair FNMR at 1e-3 {fails.sum() / trials.sum():.4f}")
        for label, badness in (
            ("today's quality", -f["quality"]),
            ("SFace norm", -f["sface_norm"]),
            ("eye distance", -f["eye_distance"]),
            *((f"learned: {k}", m[1](x[:, m[0]])) for k, m in models.items()),
        ):
            cut = np.quantile(badness[idx], 0.7)
            fnmr, n = fnmr_kept(f, check, badness > cut)
            print(f"    worst 30 % flagged by {label:>30}: FNMR of the kept {fnmr:.4f} ({n} pairs)")
        for label, (cols, predict) in models.items():
            p = predict(x[:, cols])
            print(
                f"    {label:>30}: predicted {(p[idx] * trials).sum() / trials.sum():.4f} (mean over pairs)"
            )
        rand = []
        for _ in range(20):
            flagged = np.zeros(len(f["s"]), bool)
            flagged[rng.choice(idx, int(0.3 * len(idx)), replace=False)] = True
            rand.append(fnmr_kept(f, check, flagged)[0])
        print(f"    worst 30 % flagged at random (mean of 20 draws): FNMR of the kept {np.mean(rand):.4f}")
    # As the "poor" flag (never matched, no reference): one norm cut for both sets, a quantile of the field
    # set's fit identities (0-2 clean check faces fall below them).
    field_fit = next(f["sface_norm"][splits(f, True)[0] & f["found"]] for _n, f, _r, fld in sets if fld)
    for share in (0.0, 0.02, 0.05, 0.1):
        cut = np.quantile(field_fit, share) if share else -np.inf
        for name, f, role, field in sets:
            _, check = splits(f, field)
            poor = f["poor"] | (f["sface_norm"] < cut)
            a = np.full(len(f["s"]), np.sqrt(0.5))
            print(
                f"  poor also below SFace norm {cut:.2f} (field fit {share:.0%}), {name} check ids "
                f"({int(poor[check].sum())} poor): {fmt(metrics(f, role, check, a, poor=poor))}"
            )


# --- 3. mirror passes on more faces ----------------------------------------------------------------------
def flip_study(sets: list[tuple[str, dict, dict, bool]]) -> None:
    print("\n== 3. mirror passes (flip) on more faces: clean TAR and CPU cost")
    for name, f, role, field in sets:
        fit, check = splits(f, field)
        a = np.full(len(f["s"]), np.sqrt(0.5))
        every = np.ones(len(f["s"]), bool)
        one = f["cpu_sface_one"] + f["cpu_dlib_one"]
        both = f["cpu_sface_flip"] + f["cpu_dlib_flip"]
        timed = f["found"] & np.isfinite(one) & np.isfinite(both)
        cpu_one, cpu_flip = np.median(one[timed]) * 1e3, np.median(both[timed]) * 1e3
        print(
            f"  {name}: median CPU ms per face ({timed.sum()} faces timed), SFace+dlib one pass "
            f"{cpu_one:.1f}, with mirrors {cpu_flip:.1f}"
        )
        tiny = f["upsampling"] >= 2.0
        if (np.linalg.norm(f["sface_flip"][f["found"] & ~tiny], axis=1) == 0).any():
            print(
                f"    (no mirror vectors of {name}'s non-tiny faces: face_features.py ran with --no-mirror-vectors)"
            )
            continue
        policies = {
            "tiny only (today)": f["upsampling"] >= 2.0,
            "every face": every,
            "eye distance < 40 px": (f["eye_distance"] < 40) | (f["upsampling"] >= 2.0),
            "eye distance < 50 px": (f["eye_distance"] < 50) | (f["upsampling"] >= 2.0),
            "quality < 0.75": (f["quality"] < 0.75) | (f["upsampling"] >= 2.0),
            "quality < 0.85": (f["quality"] < 0.85) | (f["upsampling"] >= 2.0),
        }
        # SFace's raw norm (a by-product of the first pass) below its 10-50 % quantile on the fit identities.
        for share in (0.1, 0.2, 0.3, 0.5):
            cut = np.quantile(f["sface_norm"][fit & f["found"]], share)
            policies[f"SFace norm < {cut:.2f} (fit {share:.0%})"] = (f["sface_norm"] < cut) | tiny
        for label, mirror in policies.items():
            g = dict(f)
            # Tiny faces' vectors have the mirror passes already (today's policy).
            extra_mirror = (mirror & ~tiny)[:, None]
            g["s"] = np.where(extra_mirror, _l2(f["sface_flip"].astype(np.float64)), f["s"])
            g["d"] = np.where(extra_mirror, _l2(f["dlib_flip"].astype(np.float64)), f["d"])
            share = mirror[f["found"]].mean()
            extra = np.where(mirror, both, one)[timed].mean() * 1e3
            print(
                f"    {label:>30} ({share:5.1%} of faces, mean {extra:5.1f} ms/face): "
                f"all {fmt(metrics(g, role, every, a))}\n{'':>38}check {fmt(metrics(g, role, check, a))}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clean", type=Path)
    ap.add_argument("field", type=Path)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--only", choices=["fusion", "quality", "flip"], nargs="*")
    args = ap.parse_args()
    sets = []
    for name, path, field in (("clean", args.clean, False), ("field", args.field, True)):
        f = load(path)
        sets.append((name, f, roles(args.data / ("faces-field" if field else "faces"), f["rel"]), field))
    for name, f, role, _field in sets:
        a = np.full(len(f["s"]), np.sqrt(0.5))
        print(f"{name}, all identities (today's vectors): {fmt(metrics(f, role, np.ones(len(a), bool), a))}")
    only = args.only or ["fusion", "quality", "flip"]
    if "fusion" in only:
        fusion_study(sets)
    if "quality" in only:
        quality_study(sets)
    if "flip" in only:
        flip_study(sets)


if __name__ == "__main__":
    main()
