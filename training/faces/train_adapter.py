"""Fit the field adapter for SFace (src/imint/faces/field_adapter.npz) from build_pairs.py's rows.

    .venv/bin/python training/faces/train_adapter.py .cache/adapter/pairs.npz

What it learns: how field degradation (shrinking, blur, JPEG) moves a tiny face's SFace
embedding away from the embedding of the same photo when clean. The residuals
``degraded - clean`` of embedder-split identities give a covariance; the adapter centres a
tiny face's embedding on the mean degraded embedding and whitens it against that
covariance, so directions the degradation shakes about count less in the cosine
(the within-class normalisation of speaker and face verification, with "class" =
one photo under many degradations).

Why not a free linear (or MLP) map trained to regress the clean embedding: tried
(ridge, 128 x 128): it raised faces-field on the fit-half identities it saw but
lowered it on held-out identities (TAR at FAR 1e-3 0.542 -> 0.52, rank-1 0.79 ->
0.74): 243 identities are too few for a map that free. Whitening has one
hyper-parameter (``--ridge``) and generalises (see docs/face-accuracy.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from imint.faces.datasets import identity_split
from imint.faces.models import FIELD_ADAPTER_FILE, TINY_FACE_UPSAMPLING


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--ridge", type=float, default=0.01, help="added to the residual variances")
    ap.add_argument("--out", type=Path, default=FIELD_ADAPTER_FILE)
    args = ap.parse_args()
    data = np.load(args.pairs)
    if not all(identity_split(str(i)) == "embedder" for i in data["identity"]):
        raise SystemExit(
            "pairs file holds identities outside the embedder split: rebuild it with build_pairs.py"
        )
    clean_row = data["clean_row"]
    degraded = (clean_row != np.arange(len(clean_row))) & (data["upsampling"] >= TINY_FACE_UPSAMPLING)
    x, y = data["sf"][degraded], data["sf"][clean_row[degraded]]
    mean = x.mean(0)
    variances, vectors = np.linalg.eigh(np.cov((x - y).T))
    matrix = vectors @ np.diag(1.0 / np.sqrt(variances + args.ridge)) @ vectors.T
    np.savez(
        args.out,
        mean=mean.astype(np.float32),
        matrix=matrix.astype(np.float32),
        min_upsampling=np.float32(TINY_FACE_UPSAMPLING),
        ridge=np.float32(args.ridge),
        rows=np.int32(len(x)),
        identities=np.int32(len(set(data["identity"][degraded]))),
    )
    print(
        f"adapter from {len(x)} degraded rows of {len(set(data['identity'][degraded]))} embedder-split identities; "
        f"mean cosine degraded->clean {float((x * y).sum(1).mean()):.3f}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
