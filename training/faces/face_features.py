"""Per-face features of a labelled face folder, for the fusion / quality / flip studies (issue 17).

    OMP_NUM_THREADS=1 .venv/bin/python training/faces/face_features.py ../shared/data/faces \
        --cache /tmp/engine/evalcache --out .cache/quality/faces.npz

Starts from the analyses ``imint eval faces --cache`` keeps (boxes, refined landmarks, quality, the
model's fused vectors; keyed by the image file's SHA-256 and the model id) and adds, for the labelled
face of every image: the SFace and dlib halves of the fused vector, SFace's raw feature norm (the network
the face goes through, no mirror), the quality terms (eye distance, yaw, sharpness, detector score,
alignment upsampling), the vectors with both mirror passes on every face (``flip=True``), and the CPU
time (``time.process_time``) of each embedding pass on every ``--time-every``-th image (NaN elsewhere). Images not in the cache are analysed afresh.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from imint.faces.datasets import pick_labelled, read_face_folder
from imint.faces.engine import DEFAULT_MODEL, get_engine
from imint.faces.evaluate import _cache_file, _read_cached
from imint.faces.models import TINY_FACE_UPSAMPLING, DlibEmbedder, SFaceEmbedder
from imint.faces.quality import _features
from imint.faces.sface_onnx import field_sface_network, sface_network
from imint.media.images import load_image_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/engine/evalcache"))
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--time-every", type=int, default=10, help="time the passes on every n-th image")
    ap.add_argument(
        "--no-mirror-vectors",
        action="store_true",
        help="skip the flip=True vectors (a set of tiny faces has them)",
    )
    args = ap.parse_args()

    engine = get_engine(args.model)
    sface_flip, sface_one = SFaceEmbedder(flip=True), SFaceEmbedder(flip=False)
    dlib_flip, dlib_one = DlibEmbedder(flip=True), DlibEmbedder(flip=False)
    rows: dict[str, list] = {
        k: []
        for k in (
            "rel identity found emb quality poor reason sface_norm eye_distance yaw sharpness "
            "det_score upsampling sface_flip dlib_flip cpu_sface_one cpu_sface_flip cpu_dlib_one "
            "cpu_dlib_flip"
        ).split()
    }
    folder = read_face_folder(args.folder)
    for n, img in enumerate(folder.images):
        image = load_image_file(img.path)
        faces = _read_cached(_cache_file(args.cache, Path(img.path), args.model), args.model)
        if faces is None:
            faces = engine.analyze(image)
        j = pick_labelled(faces.boxes, image.shape[1], image.shape[0], img.labelled_face_rule)
        rows["rel"].append(img.rel)
        rows["identity"].append(img.identity)
        rows["found"].append(j is not None)
        if j is None:
            for k in list(rows)[3:]:
                rows[k].append(
                    np.zeros(engine.embedder.dim if k == "emb" else 128, np.float32)
                    if k in ("emb", "sface_flip", "dlib_flip")
                    else ("" if k == "reason" else np.nan if k.startswith("cpu_") else 0.0)
                )
            continue
        one = faces.select([j])
        rows["emb"].append(faces.embeddings[j])
        rows["quality"].append(float(faces.quality[j]))
        rows["reason"].append(faces.quality_reason[j])
        rows["poor"].append(faces.quality_reason[j].startswith("poor"))
        crops, upsampling = sface_one.crops(image, one)
        net = field_sface_network() if upsampling[0] >= TINY_FACE_UPSAMPLING else sface_network()
        rows["sface_norm"].append(float(np.linalg.norm(net.features(crops)[0])))
        eye, yaw, sharp = _features(image, one.landmarks[0])
        rows["eye_distance"].append(eye)
        rows["yaw"].append(yaw)
        rows["sharpness"].append(sharp)
        rows["det_score"].append(float(one.scores[0]))
        rows["upsampling"].append(float(upsampling[0]))
        timed = n % args.time_every == 0
        for kind, one_pass, mirrored in (("sface", sface_one, sface_flip), ("dlib", dlib_one, dlib_flip)):
            vec = np.zeros(128, np.float32)
            if timed or not args.no_mirror_vectors:
                t = time.process_time()
                vec = mirrored.embed(image, one)[0]
                rows[f"cpu_{kind}_flip"].append(time.process_time() - t if timed else np.nan)
            else:
                rows[f"cpu_{kind}_flip"].append(np.nan)
            rows[f"{kind}_flip"].append(vec)
            if timed:
                t = time.process_time()
                one_pass.embed(image, one)
                rows[f"cpu_{kind}_one"].append(time.process_time() - t)
            else:
                rows[f"cpu_{kind}_one"].append(np.nan)
        if n % 100 == 0:
            print(f"{args.folder.name}: {n}/{len(folder.images)}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **{k: np.array(v) for k, v in rows.items()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
