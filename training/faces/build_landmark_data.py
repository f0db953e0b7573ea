"""Training data of the tiny-face landmark refiner (train_landmarks.py).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python training/faces/build_landmark_data.py \
        ../shared/data/faces --copies 24 --out .cache/landmarks/data.npz

Why: on field photos (25-35 px faces) YuNet's five landmarks are off by about a tenth of
the eye distance, and the embedder is very sensitive to that: on faces-field, aligning
with the landmarks found on the clean original instead raised TAR at FAR 1e-3 from 0.59
to 0.69 on identities nothing was trained on (docs/face-accuracy.md).

So each photo of the "embedder" identity split is degraded ``--copies`` times with random
strengths of the make_field.py family (degrade.py); the degraded copy goes through the
real detector, and the sample is the detector's view of the face (a small canvas warped
from the image with the detected landmarks, ``imint.faces.landmarks.canvas_transform``)
with, as the target, the clean photo's landmarks carried into the canvas. Extra samples
start from detected landmarks jittered at random, so the refiner also learns to correct
its own residual error when it is run twice. The canvases stay in .cache (pieces of the
dev photos: never committed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from degrade import degrade, labelled_face, open_photo, random_strength, split_photos  # noqa: E402

from imint.faces.landmarks import CANVAS_SIZE, canvas_transform, to_canvas, warp_canvas  # noqa: E402
from imint.faces.models import get_detector  # noqa: E402


def jitter(landmarks: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A random similarity (shift, scale, rotation) plus per-point noise, in eye distances."""
    eye = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    centre = landmarks.mean(0)
    angle = rng.normal(0, 0.08 * strength)
    scale = np.exp(rng.normal(0, 0.06 * strength))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    moved = (landmarks - centre) @ rot.T + centre + rng.normal(0, 0.08 * strength * eye, 2)
    return moved + rng.normal(0, 0.05 * strength * eye, landmarks.shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--copies", type=int, default=24)
    ap.add_argument("--jitters", type=int, default=2, help="extra jittered samples per degraded copy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="embedder")
    ap.add_argument("--out", type=Path, default=Path(".cache/landmarks/data.npz"))
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    detector = get_detector("yunet")
    images = split_photos(args.folder, args.split)
    rows: dict[str, list] = {k: [] for k in ("photo", "canvas", "target", "start", "eye_px")}
    t0 = time.time()
    for n, item in enumerate(images):
        original = open_photo(item)
        arr = np.asarray(original)
        clean = labelled_face(detector, arr, item, refine_landmarks=False)
        if clean is None:
            continue
        truth_clean = clean.landmarks[0].astype(np.float64)
        is_lfw = item.source.startswith("lfw")
        for _ in range(args.copies):
            im = np.asarray(degrade(original, is_lfw, *random_strength(rng)))
            sx, sy = im.shape[1] / arr.shape[1], im.shape[0] / arr.shape[0]
            # Pixel centres: PIL's resize maps x to (x + 0.5) * s - 0.5.
            truth = (truth_clean + 0.5) * [sx, sy] - 0.5
            found = labelled_face(detector, im, item, refine_landmarks=False)  # what the refiner is handed
            if found is None:
                continue
            detected = found.landmarks[0].astype(np.float64)
            if np.linalg.norm(detected.mean(0) - truth.mean(0)) > np.linalg.norm(truth[1] - truth[0]):
                continue  # picked another face
            starts = [detected] + [jitter(detected, rng, 1.0) for _ in range(args.jitters)]
            for start in starts:
                m = canvas_transform(start)
                rows["photo"].append(n)
                rows["canvas"].append(warp_canvas(im, m))
                rows["target"].append(to_canvas(truth, m))
                rows["start"].append(to_canvas(start, m))
                rows["eye_px"].append(float(np.linalg.norm(truth[1] - truth[0])))
        if n % 25 == 0:
            print(
                f"{n}/{len(images)} photos, {len(rows['canvas'])} samples, {time.time() - t0:.0f} s",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **{k: np.array(v) for k, v in rows.items()}, canvas_size=CANVAS_SIZE)
    print(f"wrote {len(rows['canvas'])} samples from {len(images)} photos to {args.out}")


if __name__ == "__main__":
    main()
