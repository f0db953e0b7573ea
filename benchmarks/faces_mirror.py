"""Does the mirror-image pass pay? Verification with and without it, per embedder, and its CPU cost.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/faces_mirror.py --data ../shared/data/faces \
        [--limit N] [--json benchmarks/results/faces_mirror.json]

Each labelled face is detected once (the default engine's detector) and embedded by SFace
and by dlib's ResNet (onnxruntime), each with one pass and with the mirror-image pass. The
fused vectors are made as the default engine makes them (``FusedEmbedder``: SFace and dlib
at weight 1), and verification (every image pair, TAR at FAR, as ``imint eval faces``) is
scored for each combination. Uncalibrated scores: the point is the ranking the mirror pass
buys, not the operating point.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from imint.faces.datasets import pick_labelled, read_face_folder
from imint.faces.engine import DLIB_WEIGHT, get_engine
from imint.faces.evaluate import _verification
from imint.faces.models import TINY_FACE_UPSAMPLING, DlibEmbedder, SFaceEmbedder, alignment_upsampling
from imint.media.images import load_image_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.faces import identification  # noqa: E402

# name: (SFace mirror pass, dlib mirror pass); "tiny": only for faces magnified
# TINY_FACE_UPSAMPLING or more (the field network's faces), one pass for the others.
VARIANTS = {
    "both mirrored (default)": (True, True),
    "SFace mirrored, dlib 1 pass": (True, False),
    "SFace 1 pass, dlib mirrored": (False, True),
    "no mirror pass": (False, False),
    "both mirrored on tiny faces only": ("tiny", "tiny"),
    "SFace mirrored on tiny faces only, dlib 1 pass": ("tiny", False),
}


def _pick(emb: dict, model: str, flip: bool | str, tiny: np.ndarray) -> np.ndarray:
    if flip != "tiny":
        return emb[(model, flip)]
    return np.where(tiny[:, None], emb[(model, True)], emb[(model, False)])


def _cpu(cpu: dict, model: str, flip: bool | str, tiny_share: float) -> float:
    if flip != "tiny":
        return cpu[(model, flip)]
    return tiny_share * cpu[(model, True)] + (1 - tiny_share) * cpu[(model, False)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/faces"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/faces_mirror.json"))
    args = ap.parse_args()
    if not (args.data / "manifest.csv").exists():
        print(f"skipped: {args.data} is not present")
        return 0
    folder = read_face_folder(args.data, limit=args.limit)
    engine = get_engine()
    embedders = {("sface", flip): SFaceEmbedder(flip=flip) for flip in (True, False)} | {
        ("dlib", flip): DlibEmbedder(flip=flip) for flip in (True, False)
    }
    emb = {key: np.zeros((len(folder.images), 128), np.float32) for key in embedders}
    cpu: dict[tuple[str, bool], float] = defaultdict(float)
    found = np.zeros(len(folder.images), bool)
    tiny = np.zeros(len(folder.images), bool)
    for i, img in enumerate(folder.images):
        rgb = load_image_file(img.path)
        faces = engine.detect(rgb)
        j = pick_labelled(faces.boxes, rgb.shape[1], rgb.shape[0], img.labelled_face_rule)
        if j is None:
            continue
        one, found[i] = faces.select([j]), True
        tiny[i] = alignment_upsampling(one.landmarks[0]) >= TINY_FACE_UPSAMPLING
        for key, embedder in embedders.items():
            start = time.process_time()
            emb[key][i] = embedder.embed(rgb, one)[0]
            cpu[key] += time.process_time() - start
    n = max(int(found.sum()), 1)
    identities = np.array([img.identity for img in folder.images])
    results = {}
    for name, (sface_flip, dlib_flip) in VARIANTS.items():
        sface_emb, dlib_emb = _pick(emb, "sface", sface_flip, tiny), _pick(emb, "dlib", dlib_flip, tiny)
        fused = np.concatenate([sface_emb, DLIB_WEIGHT * dlib_emb], axis=1)
        fused /= np.sqrt(1 + DLIB_WEIGHT**2)
        verif = _verification(fused, found, identities)

        def score(a, b, e=fused):  # noqa: ANN001, ANN202
            return e[a] @ e[b].T

        ident = identification(score, folder, found) if folder.ident else {}
        share = float(tiny.sum()) / n
        ms = 1000 * (_cpu(cpu, "sface", sface_flip, share) + _cpu(cpu, "dlib", dlib_flip, share)) / n
        results[name] = {
            "auc": verif["auc"],
            "tar_at_far": verif["tar_at_far"],
            **ident,
            "embed_cpu_ms_per_face": round(ms, 1),
        }
    table = Table(title=f"Mirror pass on {args.data} ({len(folder.images)} images, {int(found.sum())} faces)")
    for col in (
        "variant",
        "AUC",
        *(f"TAR@FAR {f}" for f in results["no mirror pass"]["tar_at_far"]),
        "rank-1",
        "FNIR@FPIR 0.01",
        "CPU ms/face",
    ):
        table.add_column(col, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['auc']}",
            *(f"{v}" for v in r["tar_at_far"].values()),
            f"{r.get('rank1')}",
            f"{r.get('fnir_at_fpir_0.01')}",
            f"{r['embed_cpu_ms_per_face']}",
        )
    Console().print(table)
    print(f"tiny faces (field network's path): {int(tiny.sum())} of {int(found.sum())}", file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "data": str(args.data),
                "images": len(folder.images),
                "faces": int(found.sum()),
                "tiny_faces": int(tiny.sum()),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"JSON: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
