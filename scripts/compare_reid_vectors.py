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
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from imint.faces.datasets import read_face_folder
from imint.faces.models import get_detector
from imint.faces.reembed import map_faces
from imint.faces.video.tracker import association_embedder
from imint.media.images import load_image_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--detectors", nargs=2, default=["yunet", "yunet-ort"])
    args = ap.parse_args()
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
