"""Aligned crops of field-degraded faces and the clean teacher embedding of each: the training
data of the field SFace (train_field_sface.py).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python training/faces/build_field_crops.py \
        ../shared/data/faces --copies 24 --out .cache/field_sface/crops.npz

Only identities of the "embedder" split (``imint.faces.datasets.identity_split``) are read:
the calibration is fitted on another quarter and checked on the remaining half, so neither
sees a face the network was trained on. Each photo is degraded ``--copies`` times with
random strengths from the make_field.py family (degrade.py), the degraded image goes
through the real detector and the tiny-face alignment, and the 112 px crop is kept with
the SFace embedding (flip TTA) of the clean photo's face. The crops stay in .cache (never
committed: they are pieces of the dev photos).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from degrade import degrade, labelled_face, open_photo, random_strength, split_photos  # noqa: E402

from imint.faces.models import SFaceEmbedder, align_for_embedding, alignment_upsampling, get_detector  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--copies", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="embedder")
    ap.add_argument("--out", type=Path, default=Path(".cache/field_sface/crops.npz"))
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    detector, sface = get_detector("yunet"), SFaceEmbedder(field_adapter=False)
    images = split_photos(args.folder, args.split)
    rows: dict[str, list] = {
        k: [] for k in ("identity", "photo", "crop", "teacher", "upsampling", "strength")
    }
    t0 = time.time()
    for n, item in enumerate(images):
        original = open_photo(item)
        arr = np.asarray(original)
        clean = labelled_face(detector, arr, item)
        if clean is None:
            continue
        teacher = sface.embed(arr, clean)[0]
        is_lfw = item.source.startswith("lfw")
        for _ in range(args.copies):
            strength = random_strength(rng)
            im = np.asarray(degrade(original, is_lfw, *strength))
            found = labelled_face(detector, im, item)
            if found is None:
                continue
            landmarks = found.landmarks[0]
            rows["identity"].append(item.identity)
            rows["photo"].append(n)
            rows["crop"].append(align_for_embedding(im, landmarks))
            rows["teacher"].append(teacher)
            rows["upsampling"].append(alignment_upsampling(landmarks))
            rows["strength"].append(strength)
        if n % 25 == 0:
            print(
                f"{n}/{len(images)} photos, {len(rows['crop'])} crops, {time.time() - t0:.0f} s", flush=True
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **{k: np.array(v) for k, v in rows.items()})
    print(f"wrote {len(rows['crop'])} crops from {len(images)} photos to {args.out}")


if __name__ == "__main__":
    main()
