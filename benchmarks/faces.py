"""Face accuracy and speed: imint's engine against face_recognition (dlib) in the same run.

    make bench-faces            # or: .venv/bin/python benchmarks/faces.py --data ../shared/data/faces

Both systems see the same images and are scored by the same code: verification over
every image pair of the manifest (TAR at fixed FAR), identification from ident.csv
(rank-1, FNIR at FPIR), and wall-clock time per image. face_recognition is the
peer: HOG detection (upsampled once for small images), 5-point landmarks, dlib's
ResNet descriptor, negative Euclidean distance as score. Prints a table with the
ratios and writes JSON.

``--stages N`` also times each stage of the default engine on every face of the first N images, in
CPU milliseconds per face (``time.process_time``: the machine is shared, so wall time mostly
measures the neighbours): decode, YuNet, the landmark refiner, quality, alignment, SFace's first
and mirror passes, the field adapter, dlib's landmarks and chip, dlib's ResNet's two passes, and
the whole ``engine.analyze`` as a check on their sum. ``--ingest N`` times the product path
(``ws.faces.ingest`` with ``--workers`` processes) on the first N photos: faces per second, and
per CPU-second of this process and its workers. Both go into the table and the JSON; load
averages are recorded with them.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/faces.py --limit 100 --stages 100 --ingest 300
"""

from __future__ import annotations

import argparse
import json
import os
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


STAGES = (
    "decode",
    "detect (YuNet)",
    "landmark refiner (tiny faces)",
    "quality",
    "align 112 px crops",
    "SFace, 1 pass",
    "SFace, mirror pass",
    "field adapter",
    "dlib landmarks + 150 px chip",
    "dlib ResNet, 1 pass",
    "dlib ResNet, mirror pass",
)


def _sface_passes(embedder, crops, upsampling) -> tuple:  # noqa: ANN001
    """Callables running SFace's first and mirror passes as the engine runs them (clean faces on the
    wheel's network, tiny ones on the field network); a tree from before runs them in OpenCV."""
    from imint.faces.models import TINY_FACE_UPSAMPLING

    tiny = upsampling >= TINY_FACE_UPSAMPLING if embedder.use_field_network else np.zeros(len(crops), bool)
    groups = [[c for c, t in zip(crops, tiny, strict=True) if t == want] for want in (False, True)]
    # The mirror pass of the faces the engine mirrors: all, or with flip="tiny" only the tiny ones.
    flip = getattr(embedder, "flip", True)
    mirror = upsampling >= TINY_FACE_UPSAMPLING if flip == "tiny" else np.full(len(crops), bool(flip))
    mirrored = [
        [
            np.ascontiguousarray(c[:, ::-1])
            for c, t, m in zip(crops, tiny, mirror, strict=True)
            if t == want and m
        ]
        for want in (False, True)
    ]
    try:
        from imint.faces.sface_onnx import field_sface_network, sface_network

        nets = [sface_network(), field_sface_network() if groups[1] else None]

        def run(batches):  # noqa: ANN001, ANN202
            return [net.features(b) for net, b in zip(nets, batches, strict=True) if b]
    except ImportError:  # before issue 17: OpenCV ran SFace, one crop a call
        import cv2

        from imint.faces.models import field_network

        def run(batches):  # noqa: ANN001, ANN202
            for c in batches[0]:
                embedder._net.feature(cv2.cvtColor(c, cv2.COLOR_RGB2BGR))
            if batches[1]:
                field = field_network()._net
                field.setInput(np.stack(batches[1]).astype(np.float32).transpose(0, 3, 1, 2).copy())
                field.forward()

    return (lambda: run(groups)), (lambda: run(mirrored))


def stage_costs(images) -> dict:  # noqa: ANN001
    """CPU ms per face of each stage of the default engine, over every face the engine finds.

    The stages are run one by one with the engine's own parts, as ``engine.analyze`` runs them
    (batching included), and ``engine.analyze`` is timed too on the same images: the sum of the
    stages and the whole should agree.
    """
    from imint.faces.models import TINY_FACE_UPSAMPLING, DlibEmbedder, SFaceEmbedder, refine_tiny_landmarks
    from imint.faces.quality import assess

    engine = get_engine()
    detector = engine.detector
    sface = next(e for e, _, _ in engine.embedder.parts if isinstance(e, SFaceEmbedder))
    dlib_part = next(e for e, _, _ in engine.embedder.parts if isinstance(e, DlibEmbedder))
    from imint.faces.dlib_onnx import dlib_resnet

    totals: dict[str, float] = defaultdict(float)
    n_faces = n_images = no_face = 0

    def timed(key: str, fn):  # noqa: ANN001, ANN202
        start = time.process_time()
        out = fn()
        totals[key] += time.process_time() - start
        return out

    for k, img in enumerate([images[0], *images]):
        if k == 1:  # the first image again: that pass only loaded the models
            totals.clear()
            n_faces = n_images = no_face = 0
        rgb = timed("decode", lambda img=img: load_image_file(img.path))
        faces = timed("detect (YuNet)", lambda rgb=rgb: detector.detect(rgb, refine_landmarks=False))
        timed("landmark refiner (tiny faces)", lambda rgb=rgb, f=faces: refine_tiny_landmarks(rgb, f))
        timed("quality", lambda rgb=rgb, f=faces: assess(rgb, f))
        n_images += 1
        timed("whole engine.analyze", lambda rgb=rgb: engine.analyze(rgb))
        if not len(faces):
            no_face += 1
            continue
        n_faces += len(faces)
        crops, ups = timed("align 112 px crops", lambda rgb=rgb, f=faces: sface.crops(rgb, f))
        first, mirror = _sface_passes(sface, crops, ups)
        timed("SFace, 1 pass", first)
        timed("SFace, mirror pass", mirror)
        raw = sface.embed_crops(crops, ups)
        timed("field adapter", lambda raw=raw, ups=ups: sface.adapt(raw, ups))
        chips = timed("dlib landmarks + 150 px chip", lambda rgb=rgb, f=faces: dlib_part.chips(rgb, f))
        dlib_mirror = (
            ups >= TINY_FACE_UPSAMPLING
            if dlib_part.flip == "tiny"
            else np.full(len(chips), bool(dlib_part.flip))
        )
        mirrored = [np.ascontiguousarray(c[:, ::-1]) for c, m in zip(chips, dlib_mirror, strict=True) if m]
        timed("dlib ResNet, 1 pass", lambda chips=chips: dlib_resnet().descriptors(chips))
        timed("dlib ResNet, mirror pass", lambda m=mirrored: dlib_resnet().descriptors(m))
    # Every image pays decode, detection and the whole analysis, also those without a face: all
    # stages are divided by the faces found, so the rows add up to the cost of a face.
    per_face = {key: round(1000 * totals[key] / max(n_faces, 1), 2) for key in STAGES}
    per_face["sum of the stages"] = round(sum(per_face.values()), 2)
    per_face["whole engine.analyze (no decode)"] = round(
        1000 * totals["whole engine.analyze"] / max(n_faces, 1), 2
    )
    return {
        "images": n_images,
        "faces": n_faces,
        "images_without_faces": no_face,
        "cpu_ms_per_face": per_face,
    }


def ingest_throughput(root: Path, limit: int | None, workers: int) -> dict:
    """Faces per second through the product path: ``ws.faces.ingest`` with ``workers`` processes
    into a new workspace, over the first ``limit`` photos of the folder (CPU time of this process
    and of the workers; their model loading included)."""
    import multiprocessing
    import resource
    import tempfile

    from imint.faces.datasets import read_face_folder
    from imint.workspace import Workspace

    paths = [img.path for img in read_face_folder(root, limit=limit).images]
    with tempfile.TemporaryDirectory(prefix="imint-bench-ingest-") as tmp:
        ws = Workspace(Path(tmp) / "ws", user="benchmark")
        load = os.getloadavg()[0]
        cpu, children = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        report = ws.faces.ingest(paths, workers=workers, with_videos=False)
        while multiprocessing.active_children():  # joins the pool's workers, so their CPU is counted
            time.sleep(0.05)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        main_cpu = time.process_time() - cpu
        workers_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        cpu = main_cpu + workers_cpu
    return {
        "photos": report.photos,
        "faces": report.faces,
        "workers": workers,
        "seconds": round(report.seconds, 2),
        "faces_per_second": round(report.faces_per_second, 2),
        "cpu_seconds": round(cpu, 2),
        "main_process_cpu_seconds": round(main_cpu, 2),
        "workers_cpu_seconds": round(workers_cpu, 2),
        "cpu_ms_per_face": round(1000 * cpu / max(report.faces, 1), 1),
        # What two cores of our own would give: two CPU-seconds a second.
        "faces_per_second_on_2_cores": round(2 * report.faces / cpu, 2) if cpu > 0 else None,
        "load_average_before": round(load, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


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

    # With --limit a probe's gallery photos can fall outside the first N images: it has no one to find.
    probes = [i for i in probes if folder.images[i].identity in gallery]
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
    ap.add_argument(
        "--ingest", type=int, default=0, help="also time `ingest` (the product path) of the first N photos"
    )
    ap.add_argument("--workers", type=int, default=2, help="ingest worker processes (--ingest)")
    ap.add_argument(
        "--no-peer", action="store_true", help="skip the comparison (stage and ingest timing only)"
    )
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
    # One OpenCV thread, as in ingest's workers: CPU seconds then measure work, not thread overhead.
    import cv2

    cv2.setNumThreads(1)
    load_start = os.getloadavg()
    report: dict = {"data": str(args.data), "load_average_at_start": [round(x, 2) for x in load_start]}
    if args.stages:
        print(f"timing stages on {args.stages} images...", file=sys.stderr, flush=True)
        stages = stage_costs(read_face_folder(args.data, limit=args.stages).images)
        report["stages"] = stages
        stage_table = Table(
            title=f"CPU ms per face, {stages['faces']} faces in {stages['images']} images "
            f"({stages['images_without_faces']} without a face)"
        )
        stage_table.add_column("stage")
        stage_table.add_column("CPU ms / face", justify="right")
        for key, value in stages["cpu_ms_per_face"].items():
            stage_table.add_row(key, f"{value}")
        Console().print(stage_table)
    if args.ingest:
        print(f"ingesting {args.ingest} photos with {args.workers} workers...", file=sys.stderr, flush=True)
        report["ingest"] = ingest = ingest_throughput(args.data, args.ingest, args.workers)
        ingest_table = Table(
            title=f"ingest (product path), {ingest['photos']} photos, {args.workers} workers"
        )
        for col in ingest:
            ingest_table.add_column(col, justify="right")
        ingest_table.add_row(*(f"{v}" for v in ingest.values()))
        Console().print(ingest_table)
    if args.no_peer:
        return _write(args.json, report)
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
    report |= {"images": len(folder.images), "results": results}
    report["ratio_images_per_cpu_second"] = round(b["cpu_seconds"] / a["cpu_seconds"], 3)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return _write(args.json, report)


def _write(path: Path, report: dict) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"JSON: {path}")
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
