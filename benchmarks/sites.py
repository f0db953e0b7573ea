"""Ship detection on a full-size simulated Sentinel-1 IW GRD scene: speed, memory and accuracy.

Generates a 25,000 x 16,000 px (10 m pixels) amplitude GeoTIFF with speckle, a coastline, land
scatterers and ships (``imint.sites.synthetic``), then runs the tiled CFAR and the tiled CNN over
it, one after the other, in this one process. Prints megapixels per second, the peak resident memory
(the acceptance bound is 4 GB) and recall / precision against the simulated truth (IoU >= 0.3: ships
are 1-4 px wide at 10 m, where one pixel of box edge halves the IoU), and writes a JSON.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sites.py                  # full size (minutes)
    .venv/bin/python benchmarks/sites.py --width 4096 --height 4096         # quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from imint.sites import cfar, cnn, geo
from imint.sites.evaluate import match_greedy
from imint.sites.synthetic import make_sar_scene

GB = 1024**3


def peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def score(found, truth: np.ndarray) -> dict[str, float]:
    hits, _ = match_greedy(found.boxes, found.scores, truth, iou=0.3)
    tp = int(hits.sum())
    recall = tp / len(truth) if len(truth) else 0.0
    precision = tp / len(found) if len(found) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {
        "detections": len(found),
        "tp": tp,
        "recall": round(recall, 4),
        "precision": round(precision, 4),
        "f1": round(f1, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=int, default=25_000)
    parser.add_argument("--height", type=int, default=16_000)
    parser.add_argument("--ships", type=int, default=0, help="ships to place (default: ~1 per 2.5 Mpx)")
    parser.add_argument("--json", type=Path, default=Path("bench-sites.json"))
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated GeoTIFF here")
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args(argv)
    n_ships = args.ships or max(10, args.width * args.height // 2_500_000)
    with tempfile.TemporaryDirectory(prefix="imint-bench-") as tmp:
        path = args.keep or Path(tmp) / "s1_like.tif"
        t0 = time.perf_counter()
        scene = make_sar_scene(path, width=args.width, height=args.height, n_ships=n_ships, seed=42)
        gen_s = time.perf_counter() - t0
        info = geo.open_raster(path)
        mpx = info.megapixels
        print(
            f"scene {args.width} x {args.height} px ({mpx:.0f} Mpx, {len(scene)} ships, "
            f"{path.stat().st_size / 1e6:.0f} MB GeoTIFF) generated in {gen_s:.0f} s",
            file=sys.stderr,
        )
        rows = []
        t0 = time.perf_counter()
        found = cfar.detect_raster(info, land_mask="auto")
        s = time.perf_counter() - t0
        rows.append(
            {
                "detector": "cfar (tiled, auto water mask)",
                "seconds": round(s, 1),
                "megapixels_per_second": round(mpx / s, 2),
                "peak_rss_gb": round(peak_rss_bytes() / GB, 2),
                **score(found, scene.boxes),
            }
        )
        if not args.skip_cnn and cnn.is_available():
            t0 = time.perf_counter()
            found = cnn.detect_raster(info)
            s = time.perf_counter() - t0
            rows.append(
                {
                    "detector": f"cnn ({cnn.detector_id()}, onnxruntime 1 thread)",
                    "seconds": round(s, 1),
                    "megapixels_per_second": round(mpx / s, 2),
                    "peak_rss_gb": round(peak_rss_bytes() / GB, 2),
                    **score(found, scene.boxes),
                }
            )
    print(
        f"{'detector':44} {'s':>8} {'Mpx/s':>8} {'peak GB':>8} "
        f"{'recall':>7} {'prec.':>7} {'F1':>6} {'found':>6}"
    )
    for r in rows:
        print(
            f"{r['detector']:44} {r['seconds']:8.1f} {r['megapixels_per_second']:8.2f} "
            f"{r['peak_rss_gb']:8.2f} "
            f"{r['recall']:7.3f} {r['precision']:7.3f} {r['f1']:6.3f} {r['detections']:6d}"
        )
    if len(rows) == 2:
        print(
            f"CNN/CFAR speed ratio: {rows[1]['megapixels_per_second'] / rows[0]['megapixels_per_second']:.2f}"
        )
    peak = peak_rss_bytes()
    print(f"peak resident memory {peak / GB:.2f} GB ({'within' if peak < 4 * GB else 'OVER'} the 4 GB bound)")
    result = {
        "width": args.width,
        "height": args.height,
        "megapixels": round(mpx, 1),
        "ships": len(scene),
        "generate_seconds": round(gen_s, 1),
        "results": rows,
        "peak_rss_gb": round(peak / GB, 2),
        "within_4gb": peak < 4 * GB,
    }
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
