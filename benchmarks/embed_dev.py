"""Dump the product engine's embeddings of a labelled face folder, as ``imint eval faces`` computes them.

    PYTHONPATH=src python benchmarks/embed_dev.py ../shared/data/faces /tmp/scale/faces.npz

The dump (``emb``, ``quality``, ``reasons``, ``found``, ``identities``) is what ``benchmarks/engine_shape.py``
fits the synthetic shape to. Write it outside the repository: it is derived from the labelled data.
"""

from __future__ import annotations

import sys

import numpy as np

import imint.faces.evaluate as evaluate


def main() -> None:
    folder, out = sys.argv[1], sys.argv[2]

    def dump(service, emb, quality, reasons, found, identities) -> dict:  # noqa: ANN001
        np.savez(out, emb=emb, quality=quality, reasons=np.array(reasons), found=found, identities=identities)
        return {}

    # evaluate_faces computes every usable face's vector once and hands them to its clustering step:
    # take them there and skip the identification and calibration checks.
    evaluate._clustering = dump
    evaluate._identification = lambda *a, **k: {"fpir_check": {}}
    evaluate._calibration_check = lambda *a, **k: {}
    report = evaluate.evaluate_faces(folder)
    print(report["images"], report["faces_found"], report["seconds"])


if __name__ == "__main__":
    main()
