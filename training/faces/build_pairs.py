"""Embed clean photos and random field-degraded copies of them: the adapter's training data.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python training/faces/build_pairs.py \
        ../shared/data/faces --copies 4 --out .cache/adapter/pairs.npz

Only identities of the "embedder" split (``identity_split``) are read, the quarter the
field network is trained on, so the calibration's fit quarter and the held-out half
stay unseen by both the network and the adapter. Run it after train_field_sface.py:
the SFace embedding here is the field network's for tiny faces. Each photo
gives one clean row and ``--copies`` degraded rows (random strengths from
degrade.py), each with the engine's SFace and dlib embeddings (flip TTA), the
quality score and the index of its clean row. Nothing but embeddings is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from degrade import degrade, labelled_face, open_photo, random_strength, split_photos  # noqa: E402

from imint.faces.models import DlibEmbedder, SFaceEmbedder, alignment_upsampling, get_detector  # noqa: E402
from imint.faces.quality import assess  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(".cache/adapter/pairs.npz"))
    ap.add_argument(
        "--dlib", action="store_true", help="also embed with dlib (slow; the adapter maps SFace only)"
    )
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    # The raw SFace embedding (with the tiny-face alignment), before any field adapter.
    detector, sface = get_detector("yunet"), SFaceEmbedder(field_adapter=False)
    dlib = DlibEmbedder() if args.dlib else None
    images = split_photos(args.folder, "embedder")
    rows: dict[str, list] = {
        k: [] for k in ("identity", "clean_row", "sf", "dl", "quality", "upsampling", "strength")
    }
    t0 = time.time()
    for n, item in enumerate(images):
        original = open_photo(item)
        is_lfw = item.source.startswith("lfw")
        variants = [(original, (1.0, 0.0, 100))]
        for _ in range(args.copies):
            strength = random_strength(rng)
            variants.append((degrade(original, is_lfw, *strength), strength))
        clean_row = -1
        for k, (im, strength) in enumerate(variants):
            arr = np.asarray(im)
            faces = labelled_face(detector, arr, item)
            if faces is None:
                if k == 0:
                    break  # no clean target for this photo
                continue
            quality, _ = assess(arr, faces)
            if k == 0:
                clean_row = len(rows["identity"])
            rows["identity"].append(item.identity)
            rows["clean_row"].append(clean_row)
            rows["sf"].append(sface.embed(arr, faces)[0])
            rows["dl"].append(dlib.embed(arr, faces)[0] if dlib else np.zeros(128, np.float32))
            rows["quality"].append(float(quality[0]))
            rows["upsampling"].append(alignment_upsampling(faces.landmarks[0]))
            rows["strength"].append(strength)
        if n % 50 == 0:
            print(
                f"{n}/{len(images)} photos, {len(rows['identity'])} rows, {time.time() - t0:.0f} s",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **{k: np.array(v) for k, v in rows.items()})
    print(f"wrote {len(rows['identity'])} rows from {len(images)} photos to {args.out}")


if __name__ == "__main__":
    main()
