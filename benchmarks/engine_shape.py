"""Synthetic face vectors fitted to the engine's real embeddings (the "fitted" shape of benchmarks/scale.py).

Real fused vectors (two L2-normalised 128-d halves, each scaled by 1/sqrt(2)) are far from isotropic:
a few directions carry most of the variance and strangers score 0.47 +- 0.05, not 0 +- 0.06. Isotropic
random directions in 256-d are the worst case for any approximate index, so a benchmark on them says
little about real collections. This module fits, from labelled engine vectors:

- the global mean ``m`` (real embeddings are not centred);
- the within-identity covariance ``S_w`` (pooled over identities with >= 2 faces, each face minus its
  identity's mean, with the n/(n-1) correction);
- the between-identity covariance ``S_b`` = covariance of the identity means minus the within part that
  leaks into them (``mean(1/n_i) S_w``), negative eigenvalues clipped to 0;
- how the within-identity spread grows as face quality falls (``E|x - mean|^2 = a + b q``, least squares);
- the quality distribution (resampled with a little jitter).

A synthetic person is a centre ``m + S_b^(1/2) z``; a face is ``centre + s(q) S_w^(1/2) z'`` with each half
re-normalised as the engine does. People's photo counts follow the fitted set's histogram.

    python benchmarks/engine_shape.py --vectors /tmp/scale/faces.npz    # real vs synthetic statistics

The vectors file (``emb``, ``identities``, ``quality``, optionally ``found``/``reasons``) is made by
``benchmarks/embed_dev.py`` from ``../shared/data/faces``; it stays outside the repository (it is derived
from the labelled data), and so does anything fitted from it: the fit runs at benchmark time.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HALF = 128


@dataclass
class EngineShape:
    mean: np.ndarray  # (256,)
    between_root: np.ndarray  # (256, 256): S_b^(1/2)
    within_root: np.ndarray  # (256, 256): S_w^(1/2)
    spread_a: float  # within-identity squared spread = a + b * quality
    spread_b: float
    qualities: np.ndarray  # the fitted set's face qualities, resampled
    photos_per_person: dict[int, int]
    between_eigenvalues: np.ndarray
    within_eigenvalues: np.ndarray

    def faces(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(vectors (n, 256) float32, person (n,), quality (n,))``."""
        rng = np.random.default_rng(seed)
        counts = np.array(list(self.photos_per_person))
        weights = np.array(list(self.photos_per_person.values()), float)
        sizes = rng.choice(counts, size=n, p=weights / weights.sum())
        person = np.repeat(np.arange(len(sizes)), sizes)[:n]
        n_people = int(person.max()) + 1
        quality = np.clip(rng.choice(self.qualities, n) + rng.normal(0, 0.01, n), 0.0, 1.0).astype(np.float32)
        spread = np.maximum(self.spread_a + self.spread_b * quality, 1e-6)
        scale = np.sqrt(spread / np.mean(self.spread_a + self.spread_b * self.qualities))
        vectors = np.empty((n, 2 * HALF), np.float32)
        dim = len(self.mean)
        centres = np.empty((n_people, dim), np.float32)
        for start in range(0, n_people, 65536):
            stop = min(n_people, start + 65536)
            z = rng.standard_normal((stop - start, dim), dtype=np.float32)
            centres[start:stop] = self.mean + z @ self.between_root.T.astype(np.float32)
        wroot = self.within_root.T.astype(np.float32)
        for start in range(0, n, 65536):
            sl = slice(start, min(n, start + 65536))
            z = rng.standard_normal((sl.stop - sl.start, dim), dtype=np.float32)
            vectors[sl] = halves_normalised(centres[person[sl]] + scale[sl, None] * (z @ wroot))
        return vectors, person, quality


def halves_normalised(x: np.ndarray) -> np.ndarray:
    """Each 128-d half to norm 1/sqrt(2), as the engine's fused vector."""
    x = np.asarray(x, np.float32).copy()
    for h in (slice(0, HALF), slice(HALF, 2 * HALF)):
        x[:, h] /= np.sqrt(2.0) * np.linalg.norm(x[:, h], axis=1, keepdims=True)
    return x


def load_vectors(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(emb, identity, quality)`` of the usable faces in an embedding dump (poor faces left out, as eval)."""
    d = np.load(path, allow_pickle=False)
    use = np.ones(len(d["emb"]), bool)
    if "found" in d.files and "reasons" in d.files:
        from imint.faces.quality import is_poor

        use = np.array(
            [bool(f) and not is_poor(str(r)) for f, r in zip(d["found"], d["reasons"], strict=True)]
        )
    _, identity = np.unique(d["identities"][use], return_inverse=True)
    return d["emb"][use].astype(np.float32), identity, d["quality"][use].astype(np.float32)


def _root(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    w = np.clip(w, 0.0, None)
    return (v * np.sqrt(w)) @ v.T, w[::-1]


def fit(emb: np.ndarray, identity: np.ndarray, quality: np.ndarray) -> EngineShape:
    emb = emb.astype(np.float64)
    counts = np.bincount(identity)
    means = np.zeros((len(counts), emb.shape[1]))
    np.add.at(means, identity, emb)
    means /= counts[:, None]
    resid = emb - means[identity]
    multi = counts[identity] >= 2
    dof = multi.sum() - (counts >= 2).sum()
    within = resid[multi].T @ resid[multi] / dof
    # Squared spread around the identity mean against quality (n/(n-1) undoes the mean's own share).
    r2 = (resid[multi] ** 2).sum(axis=1) * (counts[identity[multi]] / (counts[identity[multi]] - 1))
    b, a = np.polyfit(quality[multi].astype(np.float64), r2, 1)
    between = np.cov(means.T) - np.mean(1.0 / counts) * within
    between_root, between_w = _root(between)
    within_root, within_w = _root(within)
    return EngineShape(
        mean=emb.mean(axis=0),
        between_root=between_root,
        within_root=within_root,
        spread_a=float(a),
        spread_b=float(b),
        qualities=quality.astype(np.float32),
        photos_per_person={int(c): int(k) for c, k in enumerate(np.bincount(counts)) if k and c},
        between_eigenvalues=between_w,
        within_eigenvalues=within_w,
    )


def describe(emb: np.ndarray, identity: np.ndarray) -> dict:
    """Score and nearest-neighbour statistics of a labelled set (what the synthetic shape must match)."""
    s = emb @ emb.T
    iu = np.triu_indices(len(emb), 1)
    same = identity[:, None] == identity[None, :]
    gen, imp = s[iu][same[iu]], s[iu][~same[iu]]
    np.fill_diagonal(s, -np.inf)
    nearest_stranger = np.where(same, -np.inf, s).max(axis=1)
    has_mate = same.sum(axis=1) > 1
    nearest_mate = np.where(same, s, -np.inf).max(axis=1)[has_mate]
    centred = emb - emb.mean(axis=0)
    eig = np.linalg.eigvalsh(centred.T @ centred / len(emb))[::-1]
    pct = [5, 25, 50, 75, 95]
    return {
        "faces": int(len(emb)),
        "stranger_score_mean_std": [round(float(imp.mean()), 4), round(float(imp.std()), 4)],
        "same_person_score_mean_std": [round(float(gen.mean()), 4), round(float(gen.std()), 4)],
        "nearest_stranger_percentiles_5_25_50_75_95": np.round(
            np.percentile(nearest_stranger, pct), 4
        ).tolist(),
        "nearest_same_person_percentiles_5_25_50_75_95": np.round(
            np.percentile(nearest_mate, pct), 4
        ).tolist(),
        "variance_share_top_1_5_10_20_50": [
            round(float(eig[:k].sum() / eig.sum()), 3) for k in (1, 5, 10, 20, 50)
        ],
        "effective_dimension": round(float(eig.sum() ** 2 / (eig**2).sum()), 1),
    }


def compare(path: Path, seed: int = 0) -> dict:
    """Real vs fitted-synthetic statistics at the real set's size."""
    emb, identity, quality = load_vectors(path)
    shape = fit(emb, identity, quality)
    syn, person, _ = shape.faces(len(emb), seed)
    return {
        "fitted_from": str(path),
        "between_identity_eigenvalues_top10": np.round(shape.between_eigenvalues[:10], 5).tolist(),
        "within_identity_eigenvalues_top10": np.round(shape.within_eigenvalues[:10], 5).tolist(),
        "spread_vs_quality": [round(shape.spread_a, 4), round(shape.spread_b, 4)],
        "real": describe(emb, identity),
        "synthetic_fitted": describe(syn, person),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=Path, required=True, help="embedding dump (benchmarks/embed_dev.py)")
    ap.add_argument("--isotropic", action="store_true", help="also describe the old isotropic generator")
    args = ap.parse_args()
    out = compare(args.vectors)
    if args.isotropic:
        import scale  # the benchmark next to this file

        syn, person, _ = scale.synthetic_faces(out["real"]["faces"], 0)
        out["synthetic_isotropic"] = describe(syn, person)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
