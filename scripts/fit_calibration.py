"""Fit the face calibration table (src/imint/faces/calibration.json) on the dev data.

    .venv/bin/python scripts/fit_calibration.py ../shared/data/faces ../shared/data/faces-field

Only identities in the "fit half" (``imint.faces.datasets.in_fit_half``) are used
to fit; the other half checks the fit, and the check is printed. In field sets (folder
name containing "field", or --field), identities the field network was trained on
(``identity_split == "embedder"``, a quarter) are left out too: their tiny faces went
through a network that has seen them, and would make strangers look more different
than they are. The table holds
fitted numbers only (impostor score quantiles per quality bin), never data; it records
whom it was fitted on as short SHA-1s of the names (``identity_key``), so that
``imint eval faces`` can check it on everybody else, whatever folder it is given.
Embeddings are cached under --cache so re-fits take seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from imint.faces.calibration import (
    CALIBRATION_FILE,
    DEFAULT_FPIR,
    Calibration,
    fit_bin,
    identity_key,
    pair_bin_names,
)
from imint.faces.datasets import identity_split, in_fit_half, pick_labelled, read_face_folder
from imint.faces.engine import DEFAULT_MODEL, get_engine
from imint.faces.quality import QUALITY_BINS, is_poor, quality_bin
from imint.media.images import load_image_file


def embed_folder(root: Path, model_id: str, cache: Path | None) -> dict[str, np.ndarray]:
    key = f"{root.resolve().name}-{model_id.replace('/', '_').replace('+', '-').replace(':', '')}.npz"
    if cache and (cache / key).exists():
        data = np.load(cache / key, allow_pickle=True)
        return {k: data[k] for k in data.files}
    engine = get_engine(model_id)
    folder = read_face_folder(root)
    out = {k: [] for k in ("rel", "identity", "found", "emb", "quality", "poor")}
    for n, img in enumerate(folder.images):
        image = load_image_file(img.path)
        faces = engine.analyze(image)
        j = pick_labelled(faces.boxes, image.shape[1], image.shape[0], img.labelled_face_rule)
        out["rel"].append(img.rel)
        out["identity"].append(img.identity)
        out["found"].append(j is not None)
        out["emb"].append(faces.embeddings[j] if j is not None else np.zeros(engine.embedder.dim, np.float32))
        out["quality"].append(float(faces.quality[j]) if j is not None else 0.0)
        out["poor"].append(bool(is_poor(faces.quality_reason[j])) if j is not None else True)
        if n % 100 == 0:
            print(f"  {root.name}: {n}/{len(folder.images)}", file=sys.stderr, flush=True)
    arrays = {k: np.array(v) for k, v in out.items()}
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / key, **arrays)
    return arrays


def impostor_scores_by_bin(sets: list[dict[str, np.ndarray]], keeps: list) -> dict[str, np.ndarray]:
    """Different-identity pairs within and across the sets, binned by the pair of qualities.

    ``keeps`` holds one identity filter per set."""
    emb = np.concatenate([s["emb"] for s in sets])
    ident = np.concatenate([s["identity"] for s in sets])
    q = np.concatenate([s["quality"] for s in sets])
    ok = np.concatenate(
        [
            s["found"] & ~s["poor"] & np.array([keep(i) for i in s["identity"]])
            for s, keep in zip(sets, keeps, strict=True)
        ]
    )
    emb, ident, q = emb[ok], ident[ok], q[ok]
    iu = np.triu_indices(len(emb), 1)
    scores = (emb @ emb.T)[iu]
    diff = (ident[:, None] != ident[None, :])[iu]
    face_bin = np.array([QUALITY_BINS.index(quality_bin(x)) for x in q])
    lo = np.minimum(face_bin[:, None], face_bin[None, :])[iu]
    hi = np.maximum(face_bin[:, None], face_bin[None, :])[iu]
    out = {}
    for name in pair_bin_names():
        a, b = (QUALITY_BINS.index(x) for x in name.split("+"))
        out[name] = scores[diff & (lo == a) & (hi == b)]
    return out


def stranger_min_fmr(
    s: dict[str, np.ndarray], root: Path, cal: Calibration, keep
) -> tuple[np.ndarray, np.ndarray, int]:  # noqa: ANN001
    """Stranger searches against the ident.csv gallery, as calibrated FMRs.

    Every usable image of an identity passing ``keep`` is searched against the gallery
    with that identity's own references removed (a stranger to it). A search is a false
    positive identification at per-comparison FMR p exactly when the smallest calibrated
    FMR over the gallery is <= p, so the smallest FMR of each search is all the 1:N fit
    needs. Returns (min FMR per search, quality of the searched face, gallery size).
    """
    folder = read_face_folder(root)
    pos = {r: i for i, r in enumerate(s["rel"])}
    gallery = [
        (pos[r], ident)
        for r, ident, role in folder.ident
        if role == "gallery" and s["found"][pos[r]] and not s["poor"][pos[r]]
    ]
    g = np.array([i for i, _ in gallery])
    g_ident = np.array([ident for _, ident in gallery])
    g_q = s["quality"][g]
    probes = [
        i for i in range(len(s["rel"])) if keep(s["identity"][i]) and s["found"][i] and not s["poor"][i]
    ]
    probes = [i for i in probes if i not in set(g.tolist())]
    mins, quality = [], []
    for d in probes:
        others = g_ident != s["identity"][d]
        sc = s["emb"][g[others]] @ s["emb"][d]
        fmr = np.array([cal.fmr(x, s["quality"][d], q) for x, q in zip(sc, g_q[others], strict=True)])
        mins.append(fmr.min())
        quality.append(s["quality"][d])
    return np.array(mins), np.array(quality), len(g)


def fit_effective_fraction(mins: np.ndarray, n_refs: int) -> float:
    """The share c of independent comparisons that makes observed FPIR match the target
    over a range of FPIRs (0.5 % to 5 %: more hits, less noise than 1 % alone)."""
    targets = np.array([0.005, 0.01, 0.02, 0.05])
    best, best_err = 1.0, np.inf
    for c in np.geomspace(0.02, 2.0, 80):
        p = 1.0 - (1.0 - targets) ** (1.0 / max(1.0, n_refs * c))
        observed = np.array([np.mean(mins <= pi) for pi in p])
        err = float(np.sum((np.log(np.maximum(observed, 1e-3)) - np.log(targets)) ** 2))
        if err < best_err:
            best, best_err = float(c), err
    return best


def fpir_at_default(s: dict[str, np.ndarray], root: Path, cal: Calibration, keep) -> tuple[float, int]:  # noqa: ANN001
    """FPIR at the default operating point over ident.csv's distractor probes passing ``keep``."""
    folder = read_face_folder(root)
    pos = {r: i for i, r in enumerate(s["rel"])}
    gallery = [pos[r] for r, _, role in folder.ident if role == "gallery" and s["found"][pos[r]]]
    g = np.array([i for i in gallery if not s["poor"][i]])
    distract = [pos[r] for r, ident, role in folder.ident if role == "distractor_probe" and keep(ident)]
    hits = 0
    for d in distract:
        if not s["found"][d] or s["poor"][d]:
            continue
        sc = s["emb"][g] @ s["emb"][d]
        thr = np.array(
            [cal.threshold_for_fpir(DEFAULT_FPIR, s["quality"][d], len(g), qg) for qg in s["quality"][g]]
        )
        hits += bool(np.any(sc >= thr))
    return hits / max(len(distract), 1), len(distract)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--cache", type=Path, default=Path(".cache/calibration"))
    ap.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    ap.add_argument("--field", type=Path, nargs="*", default=[], help="more folders of field-quality faces")
    args = ap.parse_args()

    sets = [embed_folder(f, args.model, args.cache) for f in args.folders]

    def in_calibration_split(i: str) -> bool:  # the fit half without the field network's quarter
        return identity_split(i) == "calibration"

    fit_keeps = [
        in_calibration_split if ("field" in f.name or f in args.field) else in_fit_half for f in args.folders
    ]
    fit_scores = impostor_scores_by_bin(sets, fit_keeps)
    bins = {}
    for b, sc in fit_scores.items():
        print(f"bin {b:>14}: {len(sc):>8} impostor pairs (fit half)")
        if len(sc) >= 1000:
            bins[b] = fit_bin(sc)
    # A pair bin with too few pairs is left out: Calibration.table() falls back to the
    # bin of two faces at the lower quality.
    missing = [b for b in pair_bin_names() if b not in bins]
    if missing:
        print(f"bins with too few pairs (fall back to the lower quality's bin): {missing}")
    cal = Calibration(
        model_id=args.model,
        bins=bins,
        fitted_on="identities with even SHA-1 of "
        + ", ".join(f.name for f in args.folders)
        + " (in field sets without those the field network was trained on)",
        fit_identities=frozenset(
            identity_key(str(i))
            for s, keep in zip(sets, fit_keeps, strict=True)
            for i in set(s["identity"].tolist())
            if keep(str(i))
        ),
    )
    print(f"fitted on {len(cal.fit_identities)} identities")

    # Effective share of independent comparisons in a 1:N search, per quality bin of the
    # searched face, fitted on stranger searches of fit-half identities.
    mins, quals, n_refs = [], [], 0
    for s, root, keep in zip(sets, args.folders, fit_keeps, strict=True):
        m, q, n_refs = stranger_min_fmr(s, root, cal, keep)
        mins.append(m)
        quals.append(q)
    mins, quals = np.concatenate(mins), np.concatenate(quals)
    cal.effective_fraction = fit_effective_fraction(mins, n_refs)
    print(
        f"effective share of independent comparisons: {cal.effective_fraction:.3f} (all, {len(mins)} searches)"
    )
    # A bin of its own only with enough searches: with a few hundred, the spread between
    # halves of the identities (FPIR 0.3 % to 2 % at a 1 % target) is larger than any
    # difference between bins, and a shared share is the steadier estimate.
    probe_bins = np.array([quality_bin(q) for q in quals])
    for b in QUALITY_BINS:
        sel = probe_bins == b
        if sel.sum() >= 1000:
            cal.effective_fraction_by_bin[b] = fit_effective_fraction(mins[sel], n_refs)
            print(
                f"  searched face {b:>6}: {cal.effective_fraction_by_bin[b]:.3f} ({int(sel.sum())} searches)"
            )

    # Check on the held-back half.
    def held(i: str) -> bool:
        return not in_fit_half(i)

    check = impostor_scores_by_bin(sets, [held] * len(sets))
    print("\ncheck on held-back identities: observed FMR at the calibrated thresholds")
    for b, sc in check.items():
        if len(sc) < 1000:
            continue
        cells = []
        for f in (1e-2, 1e-3, 1e-4):
            t = cal.bins[b].threshold(f)
            cells.append(f"{f:g}->{np.mean(sc >= t):.2g}")
        print(f"  {b:>14} ({len(sc)} pairs): " + "  ".join(cells))
    for s, root in zip(sets, args.folders, strict=True):
        fpir, n = fpir_at_default(s, root, cal, held)
        m, q, t = stranger_min_fmr(s, root, cal, held)
        loo = np.mean(
            [mm <= cal.comparison_fmr_for_fpir(DEFAULT_FPIR, t, qq) for mm, qq in zip(m, q, strict=True)]
        )
        print(
            f"  {root.name}: FPIR at default {DEFAULT_FPIR:g}: {fpir:.4f} on {n} held-back distractor probes; "
            f"{loo:.4f} on {len(m)} held-back stranger searches"
        )

    tables = json.loads(args.out.read_text()) if args.out.exists() else []
    tables = [t for t in tables if t["model_id"] != args.model] + [cal.to_json()]
    args.out.write_text(json.dumps(tables, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
