"""Do the video re-identification thresholds survive a change of detector?

    .venv/bin/python scripts/compare_reid_vectors.py ../shared/data/faces ../shared/data/faces-field \
        --limit 100 --detectors yunet yunet-ort

``REID_SFACE_COSINE`` (imint.faces.video.tracker) are cosines of the re-identification SFace
(``association_embedder``: the wheel's SFace with both mirror passes, the field network and adapter),
fitted with ``scripts/fit_calibration.py --model DETECTOR/sface``. That embedder does not change with the
face model; only the landmarks it aligns on come from the model's detector. This script embeds the same
photos' faces with that SFace from each detector's landmarks, pairs the faces by box IoU, and prints how far
the vectors and all pairwise cosines between the photos move. A move far below the thresholds' third
decimal means the fitted thresholds stand; a larger one means: refit them with fit_calibration.py.

    .venv/bin/python scripts/compare_reid_vectors.py --thresholds /tmp/sface-ort-calibration.json \
        --calibration-cache .cache/calibration ../shared/data/faces ../shared/data/faces-field --model yunet-ort/sface

With ``--thresholds`` (a table written by ``fit_calibration.py --model DETECTOR/sface --out ...``) it prints,
instead, the refit's cosines at ``REID_FMR`` per quality-pair bin beside the committed ``REID_SFACE_COSINE``,
and the false-match rate both give on the held-back identities (``in_fit_half`` False) of the refit's cached
vectors (``--calibration-cache``, fit_calibration.py's ``--cache``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from imint.faces.calibration import load_calibration
from imint.faces.datasets import in_fit_half, read_face_folder
from imint.faces.models import get_detector
from imint.faces.quality import QUALITY_BINS, quality_bin
from imint.faces.reembed import map_faces
from imint.faces.video.tracker import REID_FMR, REID_SFACE_COSINE, association_embedder, reid_threshold
from imint.media.images import load_image_file


def compare_thresholds(table: Path, cache: Path, folders: list[Path], model_id: str) -> None:
    """The refit's cosines at ``REID_FMR`` against the committed ones, and the held-back FMR at each."""
    load_calibration.cache_clear()
    refit = load_calibration(model_id, table)
    key = model_id.replace("/", "_").replace("+", "-").replace(":", "")
    sets = [np.load(cache / f"{root.resolve().name}-{key}.npz", allow_pickle=True) for root in folders]
    emb = np.concatenate([s["emb"] for s in sets])
    ident = np.concatenate([s["identity"] for s in sets])
    quality = np.concatenate([s["quality"] for s in sets])
    ok = np.concatenate([s["found"] & ~s["poor"] for s in sets]) & np.array(
        [not in_fit_half(str(i)) for i in ident]
    )
    emb, ident, quality = emb[ok], ident[ok], quality[ok]
    iu = np.triu_indices(len(emb), 1)
    scores = (emb @ emb.T)[iu]
    impostor = (ident[:, None] != ident[None, :])[iu]
    # One threshold per pair of quality bins (the lower face's bin first), looked up per pair.
    face_bin = np.array([QUALITY_BINS.index(quality_bin(q)) for q in quality])
    mid = {QUALITY_BINS.index(quality_bin(q)): float(q) for q in np.unique(quality)}
    pair = face_bin[iu[0]] * len(QUALITY_BINS) + face_bin[iu[1]]
    committed, refitted = np.zeros(len(pair)), np.zeros(len(pair))
    for code in np.unique(pair):
        qa, qb = mid[code // len(QUALITY_BINS)], mid[code % len(QUALITY_BINS)]
        committed[pair == code] = reid_threshold(qa, qb)
        refitted[pair == code] = refit.threshold_for_fmr(REID_FMR, qa, qb)
    for name in REID_SFACE_COSINE:
        print(
            f"{name}: committed {REID_SFACE_COSINE[name]:.3f}, refit {refit.bins[name].threshold(REID_FMR):.5f}"
            if name in refit.bins
            else f"{name}: committed {REID_SFACE_COSINE[name]:.3f}, no refit bin"
        )
    for label, thresholds in (("committed", committed), ("refit", refitted)):
        fmr = np.mean(scores[impostor] >= thresholds[impostor])
        print(
            f"held-back FMR at the {label} cosines (asked {REID_FMR:g}): {fmr:.4f} "
            f"({int(impostor.sum())} different-person pairs, {len(emb)} faces)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--detectors", nargs=2, default=["yunet", "yunet-ort"])
    ap.add_argument("--thresholds", type=Path, help="a fit_calibration.py table of DETECTOR/sface")
    ap.add_argument("--calibration-cache", type=Path, default=Path(".cache/calibration"))
    ap.add_argument("--model", default="yunet-ort/sface", help="the table's model id (with --thresholds)")
    args = ap.parse_args()
    if args.thresholds:
        compare_thresholds(args.thresholds, args.calibration_cache, args.folders, args.model)
        return
    embedder = association_embedder()
    detectors = [get_detector(name) for name in args.detectors]
    for root in args.folders:
        vectors: list[list[np.ndarray]] = [[], []]
        unmatched = 0
        for img in read_face_folder(root, limit=args.limit).images:
            image = load_image_file(img.path)
            found = [d.detect(image) for d in detectors]
            pairs = map_faces(found[0].boxes, found[1].boxes)
            unmatched += len(found[0]) + len(found[1]) - 2 * len(pairs)
            if not pairs:
                continue
            for k, faces in enumerate(found):
                chosen = faces.select(list(pairs) if k == 0 else list(pairs.values()))
                vectors[k].append(embedder.embed(image, chosen))
        a, b = (np.concatenate(v) for v in vectors)
        cos_a, cos_b = a @ a.T, b @ b.T
        iu = np.triu_indices(len(a), 1)
        print(
            f"{root.name}: {len(a)} faces paired ({unmatched} unpaired); "
            f"largest vector difference {np.abs(a - b).max():.2e}, "
            f"self-cosine min {np.min(np.sum(a * b, axis=1)):.6f}; "
            f"pairwise cosines move by at most {np.abs(cos_a - cos_b)[iu].max():.2e} "
            f"(mean {np.abs(cos_a - cos_b)[iu].mean():.2e})"
        )


if __name__ == "__main__":
    main()
