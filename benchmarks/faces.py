"""Face accuracy and speed: imint's engine against face_recognition (dlib) in the same run.

    make bench-faces            # or: .venv/bin/python benchmarks/faces.py --data ../shared/data/faces

Both systems see the same images and are scored by the same code: verification over
every image pair of the manifest (TAR at fixed FAR), identification from ident.csv
(rank-1, FNIR at FPIR), and wall-clock time per image. face_recognition is the
peer: HOG detection (upsampled once for small images), 5-point landmarks, dlib's
ResNet descriptor, negative Euclidean distance as score. Prints a table with the
ratios and writes JSON.

``--stages N`` also times imint's stages on the labelled faces of the first N images, in
CPU milliseconds per face (``time.process_time``: the machine is shared, so wall time
mostly measures the neighbours): detection, dlib's landmarks and chip, SFace, and dlib's
ResNet both as dlib-bin runs it and as onnxruntime runs it (imint.faces.dlib_onnx), each
with and without the mirror-image pass.
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
from imint.faces.engine import get_engine
from imint.faces.evaluate import _verification
from imint.media.images import load_image_file


def run_imint(images) -> tuple[np.ndarray, np.ndarray, float]:  # noqa: ANN001
    engine = get_engine()
    emb = np.zeros((len(images), engine.embedder.dim), np.float32)
    found = np.zeros(len(images), bool)
    start = time.perf_counter()
    for i, img in enumerate(images):
        rgb = load_image_file(img.path)
        faces = engine.analyze(rgb)
        j = pick_labelled(faces.boxes, rgb.shape[1], rgb.shape[0], img.labelled_face_rule)
        if j is not None:
            emb[i], found[i] = faces.embeddings[j], True
    return emb, found, time.perf_counter() - start


def run_face_recognition(images) -> tuple[np.ndarray, np.ndarray, float]:  # noqa: ANN001
    import face_recognition

    emb = np.zeros((len(images), 128), np.float32)
    found = np.zeros(len(images), bool)
    start = time.perf_counter()
    for i, img in enumerate(images):
        rgb = load_image_file(img.path)
        upsample = 1 if max(rgb.shape[:2]) < 400 else 0
        boxes = face_recognition.face_locations(rgb, number_of_times_to_upsample=upsample)
        if not boxes:
            continue
        xyxy = np.array([[left, top, right, bottom] for top, right, bottom, left in boxes], float)
        j = pick_labelled(xyxy, rgb.shape[1], rgb.shape[0], img.labelled_face_rule)
        enc = face_recognition.face_encodings(rgb, known_face_locations=[boxes[j]], model="small")
        if enc:
            emb[i], found[i] = enc[0], True
    return emb, found, time.perf_counter() - start


def stage_costs(images) -> dict[str, float]:  # noqa: ANN001
    """CPU ms per labelled face of each stage of the default engine (see the module docstring)."""
    import dlib
    import face_recognition_models as frm

    from imint.faces.models import DlibEmbedder, SFaceEmbedder

    engine = get_engine()
    sface, sface_single = SFaceEmbedder(), SFaceEmbedder(flip=False)
    chipper = DlibEmbedder()
    dlib_bin = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    try:
        from imint.faces.dlib_onnx import dlib_resnet

        onnx_net = dlib_resnet()
    except ImportError:  # a tree from before the conversion
        onnx_net = None
    totals: dict[str, float] = defaultdict(float)
    n_faces = 0

    def timed(key: str, fn):  # noqa: ANN001, ANN202
        start = time.process_time()
        out = fn()
        totals[key] += time.process_time() - start
        return out

    for k, img in enumerate([images[0], *images]):
        if k == 1:  # the first image again: that pass only loaded the models
            totals.clear()
            n_faces = 0
        rgb = load_image_file(img.path)
        faces = timed("detect (YuNet, landmark refiner, quality)", lambda rgb=rgb: engine.detect(rgb))
        j = pick_labelled(faces.boxes, rgb.shape[1], rgb.shape[0], img.labelled_face_rule)
        if j is None:
            continue
        one = faces.select([j])
        n_faces += 1
        timed("whole embedding, default engine", lambda rgb=rgb, one=one: engine.embed(rgb, one))
        timed("SFace, 1 pass", lambda rgb=rgb, one=one: sface_single.embed(rgb, one))
        timed("SFace, with mirror pass", lambda rgb=rgb, one=one: sface.embed(rgb, one))
        chip = timed("dlib landmarks + chip", lambda rgb=rgb, one=one: chipper.chips(rgb, one))[0]
        mirror = np.ascontiguousarray(chip[:, ::-1])
        timed("dlib ResNet, dlib-bin, 1 pass", lambda chip=chip: dlib_bin.compute_face_descriptor(chip))
        timed("dlib ResNet, dlib-bin, mirror pass", lambda m=mirror: dlib_bin.compute_face_descriptor(m))
        if onnx_net is not None:
            timed("dlib ResNet, onnxruntime, 1 pass", lambda chip=chip: onnx_net.descriptors([chip]))
            timed("dlib ResNet, onnxruntime, both passes", lambda chip=chip: onnx_net.embed_chips([chip]))
    out = {key: round(1000 * value / max(n_faces, 1), 1) for key, value in totals.items()}
    out["faces"] = n_faces
    return out


def identification(scores_fn, folder, found) -> dict[str, float]:  # noqa: ANN001
    """Rank-1 and FNIR at FPIR from a pairwise score function (rows: probes, cols: gallery)."""
    pos = {img.rel: i for i, img in enumerate(folder.images)}
    gallery, probes, distractors = defaultdict(list), [], []
    for rel, identity, role in folder.ident:
        if rel not in pos:
            continue
        if role == "gallery":
            gallery[identity].append(pos[rel])
        elif role == "probe":
            probes.append(pos[rel])
        elif role == "distractor_probe":
            distractors.append(pos[rel])
    people = sorted(gallery)

    def best(rows):  # noqa: ANN001, ANN202
        out = np.full((len(rows), len(people)), -np.inf)
        for j, p in enumerate(people):
            cols = [g for g in gallery[p] if found[g]]
            if cols:
                out[:, j] = scores_fn(rows, cols).max(1)
        out[~found[rows]] = -np.inf
        return out

    pb, db = best(probes), best(distractors)
    truth = np.array([people.index(folder.images[i].identity) for i in probes])
    rank1 = float(np.mean((pb.argmax(1) == truth) & np.isfinite(pb.max(1))))
    true_score = pb[np.arange(len(probes)), truth]
    dmax = np.sort(db.max(1))[::-1]
    out = {"rank1": round(rank1, 4)}
    for f in (0.1, 0.01):
        out[f"fnir_at_fpir_{f}"] = round(float(1 - np.mean(true_score > dmax[int(f * len(dmax))])), 4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/faces"))
    ap.add_argument("--limit", type=int, default=None, help="first N manifest images only (smoke runs)")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/faces.json"))
    ap.add_argument("--stages", type=int, default=0, help="also time each stage on the first N images")
    args = ap.parse_args()
    if not (args.data / "manifest.csv").exists():
        print(f"skipped: {args.data} is not present (the benchmark reads ../shared/data/faces)")
        return 0
    try:
        import face_recognition  # noqa: F401
    except ImportError:
        print(
            "the peer is missing: .venv/bin/pip install --no-deps face_recognition==1.3.0 (make bench-faces does)"
        )
        return 1
    folder = read_face_folder(args.data, limit=args.limit)
    identities = np.array([img.identity for img in folder.images])
    results = {}
    cpu_seconds: dict[str, float] = {}
    for name, fn, sign in (("imint", run_imint, 1), ("face_recognition", run_face_recognition, -1)):
        print(f"running {name} on {len(folder.images)} images...", file=sys.stderr, flush=True)
        cpu_start = time.process_time()
        emb, found, seconds = fn(folder.images)
        cpu_seconds[name] = round(time.process_time() - cpu_start, 2)
        if sign > 0:

            def score(a, b, emb=emb):  # noqa: ANN001, ANN202
                return emb[a] @ emb[b].T

            verif = _verification(emb, found, identities)
        else:
            # face_recognition compares by Euclidean distance: use its negative as the score.
            d = -np.linalg.norm(emb[:, None, :] - emb[None, :, :], axis=2)

            def score(a, b, d=d):  # noqa: ANN001, ANN202
                return d[np.ix_(a, b)]

            verif = _verification_from_matrix(d, found, identities)
        results[name] = {
            "faces_found": int(found.sum()),
            "seconds": round(seconds, 2),
            "images_per_second": round(len(folder.images) / seconds, 2),
            "tar_at_far": verif["tar_at_far"],
            "auc": verif["auc"],
            **(identification(score, folder, found) if folder.ident else {}),
        }
    for name, result in results.items():
        result["cpu_seconds"] = cpu_seconds.get(name)
    a, b = results["imint"], results["face_recognition"]
    table = Table(title=f"Faces: imint vs face_recognition on {args.data} ({len(folder.images)} images)")
    for col in ("metric", "imint", "face_recognition", "ratio imint/peer"):
        table.add_column(col, justify="right")
    rows = [("TAR at FAR " + k, a["tar_at_far"][k], b["tar_at_far"][k]) for k in a["tar_at_far"]]
    rows += [(k, a[k], b[k]) for k in ("rank1", "fnir_at_fpir_0.1", "fnir_at_fpir_0.01") if k in a]
    rows += [("images per second", a["images_per_second"], b["images_per_second"])]
    n = len(folder.images)
    rows += [("images per CPU second", round(n / a["cpu_seconds"], 2), round(n / b["cpu_seconds"], 2))]
    for name, x, y in rows:
        ratio = f"{x / y:.2f}" if x is not None and y else "n/a"
        table.add_row(name, f"{x}", f"{y}", ratio)
    Console().print(table)
    report = {"data": str(args.data), "images": len(folder.images), "results": results}
    if args.stages:
        print(f"timing stages on {args.stages} images...", file=sys.stderr, flush=True)
        report["stage_cpu_ms_per_face"] = stages = stage_costs(folder.images[: args.stages])
        stage_table = Table(title=f"CPU ms per labelled face ({stages['faces']} faces)")
        stage_table.add_column("stage")
        stage_table.add_column("ms", justify="right")
        for key, value in stages.items():
            if key != "faces":
                stage_table.add_row(key, f"{value}")
        Console().print(stage_table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"JSON: {args.json}")
    return 0


def _verification_from_matrix(scores: np.ndarray, found: np.ndarray, identities: np.ndarray) -> dict:
    """Like evaluate._verification, for a precomputed score matrix."""
    n = len(scores)
    from imint.faces.evaluate import FARS, _auc, _round, _tar_at_far

    iu = np.triu_indices(n, 1)
    s = scores[iu]
    ok = (found[:, None] & found[None, :])[iu]
    floor = s[ok].min() - 1 if ok.any() else -1.0
    s = np.where(ok, s, floor)
    same = (identities[:, None] == identities[None, :])[iu]
    gen, imp = s[same], s[~same]
    return {
        "auc": round(_auc(gen, imp), 6),
        "tar_at_far": {str(f): _round(_tar_at_far(gen, imp, f)) for f in FARS},
    }


if __name__ == "__main__":
    sys.exit(main())
