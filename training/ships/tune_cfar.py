"""Tune the chip CFAR (windows, z threshold, hysteresis growth, dilation, minimum size) on the DEV part only.

The honest split (``imint.sites.evaluate.honest_parts``) is applied first and only ``dev`` SAR images are
read; the held-out part is scored afterwards with ``imint eval ships`` on the chosen parameters.
Every other dev image, and two stages, keep the CPU cost low: windows x a coarse threshold grid, then the size/threshold grid at the
best windows. Prints every combination's dev F1 (IoU 0.5) and the best, as JSON lines.

    nice -n 10 python training/ships/tune_cfar.py /work/shared/data/ships > /tmp/tune-cfar.jsonl
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import norm

from imint.sites import cfar
from imint.sites.evaluate import honest_parts, match_greedy, read_folder, summarise


def load_dev(folder: Path, every: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every ``every``-th dev SAR image (a shared 2-core machine: half the dev part is enough to rank)."""
    images, annotations = read_folder(folder)
    parts = honest_parts(images)
    out = []
    dev = [r for r in images if parts[r["image"]] == "dev" and r.get("modality") == "SAR"]
    for row in dev[::every]:
        image = cv2.imread(str(folder / row["image"]), cv2.IMREAD_GRAYSCALE).astype(np.float32)
        truth = [[float(a[c]) for c in ("x1", "y1", "x2", "y2")] for a in annotations.get(row["image"], [])]
        out.append((image, np.array(truth, np.float32).reshape(-1, 4)))
    return out


def score(data: list, zs: list[np.ndarray], params: cfar.CfarParams) -> dict:
    records = []
    for (_, truth), z in zip(data, zs, strict=True):
        boxes, peak, _ = cfar._objects(z, params.threshold, params, 1.0)
        scores = cfar.confidence(peak, params.threshold)
        hits, counted = match_greedy(boxes, scores, truth)
        records.append({"scores": scores, "hits": hits, "counted": counted, "n_truth": len(truth)})
    return summarise(records, 0.0)


def with_z(params: cfar.CfarParams, z: float) -> cfar.CfarParams:
    return replace(params, pfa=float(norm.sf(z)))


def main(folder: str) -> None:
    data = load_dev(Path(folder))
    base = cfar.CfarParams.for_chips()
    best: tuple[float, cfar.CfarParams] = (-1.0, base)
    # Stage 1: windows (target, guard, background) with a coarse threshold / growth grid.
    for target, guard in itertools.product((1, 3), (41, 61, 81)):
        background = guard + 40
        zs = [cfar.z_map(im, np.ones(im.shape, bool), target, guard, background) for im, _ in data]
        for z, grow in itertools.product((6.0, 8.0), (3.5,)):
            p = with_z(replace(base, target_m=target, guard_m=guard, background_m=background, grow_z=grow), z)
            m = score(data, zs, p)
            print(json.dumps({"stage": 1, "params": p.to_dict(), "z": z, **m}), flush=True)
            if m["f1"] > best[0]:
                best = (m["f1"], p)
    # Stage 2: threshold, growth, dilation and minimum size at the best windows.
    p0 = best[1]
    target, guard, background = p0.windows_px(1.0)
    zs = [cfar.z_map(im, np.ones(im.shape, bool), target, guard, background) for im, _ in data]
    z_best = float(norm.isf(p0.pfa))
    for dz, grow, dil, area in itertools.product((-1.0, 0.0, 1.0), (2.5, 3.5, 4.5), (1, 3), (50, 100, 200)):
        p = with_z(replace(p0, grow_z=grow, dilation_px=dil, min_area_px=area), z_best + dz)
        m = score(data, zs, p)
        print(json.dumps({"stage": 2, "params": p.to_dict(), "z": z_best + dz, **m}), flush=True)
        if m["f1"] > best[0]:
            best = (m["f1"], p)
    print(json.dumps({"best": best[1].to_dict(), "z": float(norm.isf(best[1].pfa)), "dev_f1": best[0]}))


if __name__ == "__main__":
    main(sys.argv[1])
