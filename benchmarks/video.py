"""Video face search speed: real-time factor at 720p and 1080p, 5 frames/s analysed.

Real-time factor (RTF) = video duration / analysis wall time; 2.0 means a 10 s clip is
analysed in 5 s. Inputs: the real clips of ``../shared/data/video`` re-encoded to 720p and
1080p when that folder exists, else clips composed from public-domain photos. The peer,
run in the same process on the same clips, is the per-frame approach of photo tools
(``face_recognition``'s video examples): detect and embed every face of every sampled frame,
with no tracking. The embedding worker processes (``--embed-workers``, default one where there
are two cores) are started and load their models before timing, as the engine's models are;
their CPU time is counted in ``cpu_s``. Usage::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/video.py [--json benchmarks/results/video.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def transcode(src: Path, dest: Path, height: int) -> Path:
    """Re-encode ``src`` scaled to ``height`` (even width), H.264, same frame timing."""
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or 25
        w = int(round(vin.codec_context.width * height / vin.codec_context.height / 2)) * 2
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = w, height, "yuv420p"
        vout.options = {"preset": "veryfast", "crf": "20"}
        for frame in inp.decode(vin):
            img = cv2.resize(frame.to_ndarray(format="rgb24"), (w, height), interpolation=cv2.INTER_CUBIC)
            for packet in vout.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vout.encode():
            out.mux(packet)
    return dest


def generated(dest: Path, height: int, seconds: float = 10.0) -> Path:
    from tests.video_clips import moving_faces_frames, write_clip

    frames = moving_faces_frames(seconds=seconds, fps=25, size=(640, 360))
    w = int(round(640 * height / 360 / 2)) * 2
    big = [cv2.resize(f, (w, height), interpolation=cv2.INTER_CUBIC) for f in frames]
    return write_clip(dest, big, fps=25)


def peer_per_frame(path: Path, fps: float, max_seconds: float) -> dict:
    """Detect + embed every face of every sampled frame (no tracking), as photo tools do."""
    from imint.faces.engine import get_engine
    from imint.faces.video.detect import detect_frame, embed_faces
    from imint.media.frames import iter_frames

    engine = get_engine()
    clock, cpu = time.perf_counter(), time.process_time()
    faces = frames = 0
    last = 0.0
    for frame in iter_frames(path, fps=fps, end=max_seconds):
        found = detect_frame(engine, frame.rgb)
        embed_faces(engine, frame.rgb, found)
        faces += len(found)
        frames += 1
        last = frame.time
    seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
    covered = min(max_seconds, last + 1.0 / fps)
    return {"video_seconds": round(covered, 2), "seconds": round(seconds, 2), "cpu_s": round(cpu, 2),
            "faces_embedded": faces, "rtf": round(covered / seconds, 3), "rtf_cpu": round(covered / cpu, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/video.json"))
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--peer-seconds", type=float, default=4.0, help="video seconds the peer analyses")
    parser.add_argument("--heights", type=int, nargs="+", default=[720, 1080])
    parser.add_argument(
        "--clips", nargs="+", default=None, help="only these clips of the video folder (stems)"
    )
    parser.add_argument(
        "--skip-export", action="store_true", help="skip the second call that writes the annotated MP4"
    )
    from imint.faces.video.pool import DEFAULT_EMBED_WORKERS

    parser.add_argument(
        "--embed-workers", type=int, default=DEFAULT_EMBED_WORKERS, help="processes for fused embeddings"
    )
    args = parser.parse_args()

    import numpy as np

    from imint.faces.engine import get_engine
    from imint.faces.models import ARCFACE_TEMPLATE
    from imint.faces.video import ScanStats, search_video
    from imint.faces.video.pool import embedding_pool
    from imint.faces.video.tracker import association_embedder
    from imint.records import Faces
    from imint.workspace import Workspace

    # Load the models before timing (and run the re-identification SFace once, as enrolling
    # below runs the engine's): the engine's, the workers' and the re-identification one.
    engine = get_engine()
    pool = embedding_pool(engine.model_id, args.embed_workers)
    if pool is not None:
        pool.warm_up()
    probe = Faces(boxes=np.array([[30.0, 40, 82, 100]]), landmarks=ARCFACE_TEMPLATE[None], scores=np.ones(1))
    association_embedder().embed(np.full((112, 112, 3), 128, np.uint8), probe)
    # A tiny face too, in this process and in every worker: the landmark refiner and the field network
    # load with the first tiny face, and would otherwise land in the first clip's timing.
    tiny = Faces(
        boxes=np.array([[20.0, 20, 40, 44]]), landmarks=20 + ARCFACE_TEMPLATE[None] / 5.6, scores=np.ones(1)
    )
    gray = np.full((64, 64, 3), 128, np.uint8)
    from imint.faces.models import refine_tiny_landmarks

    refine_tiny_landmarks(gray, tiny.select([0]))
    association_embedder().embed(gray, tiny)
    engine.embed(gray, tiny.select([0]))
    if pool is not None:
        for future in [pool.submit(gray, tiny.select([0])) for _ in range(4 * args.embed_workers)]:
            if future is not None:
                future.result()
    tmp = Path(tempfile.mkdtemp(prefix="imint-video-bench-"))
    real = DATA / "video"
    if real.is_dir():
        sources = [p for p in sorted(real.glob("*.mp4")) if args.clips is None or p.stem in args.clips]
        inputs = [
            (transcode(src, tmp / f"{src.stem}-{h}p.mp4", h), f"{src.stem}", h)
            for src in sources
            for h in args.heights
        ]
        origin = str(real)
    else:
        inputs = [
            (generated(tmp / f"generated-{h}p.mp4", h), "generated (astronaut + Grace Hopper)", h)
            for h in args.heights
        ]
        origin = "generated"
    reference = DATA / "faces" / "images" / "Lin-Manuel_Miranda"
    rows = []
    for path, name, height in inputs:
        ws = Workspace(tmp / f"ws-{path.stem}", user="benchmark")
        if reference.is_dir():
            ws.enroll("Lin-Manuel_Miranda", sorted(reference.iterdir()))
        load_before = os.getloadavg()[0]
        clock, cpu = time.perf_counter(), time.process_time()
        t = ScanStats()
        result = search_video(ws, path, fps=args.fps, embed_workers=args.embed_workers, stats=t)
        seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
        cpu += t.embed_worker_cpu
        load_after = os.getloadavg()[0]
        clock = time.perf_counter()
        if not args.skip_export:
            search_video(
                ws, path, fps=args.fps, annotate_dir=tmp / "annotated", embed_workers=args.embed_workers
            )
        export_seconds = time.perf_counter() - clock if not args.skip_export else None
        duration = result.info.duration
        peer = peer_per_frame(path, args.fps, args.peer_seconds)
        rows.append(
            {
                "clip": name,
                "resolution": f"{result.info.width}x{result.info.height}",
                "height": height,
                "duration_s": round(duration, 2),
                "frames_sampled": result.frames_sampled,
                "tracks": len(result.tracks),
                "appearances": len(result.appearances),
                "persons_found": sorted({a.person for a in result.appearances if a.person}),
                "faces_embedded": t.embedded_faces,
                "reid_embedded": t.reid_embedded_faces,
                "embed_workers": args.embed_workers,
                "seconds": round(seconds, 2),
                "rtf": round(duration / seconds, 3),
                "cpu_s": round(cpu, 2),
                "rtf_cpu": round(duration / cpu, 3),
                "decode_s": round(t.decode, 2),
                "detect_s": round(t.detect, 2),
                "embed_s": round(t.embed, 2),
                "embed_worker_cpu_s": round(t.embed_worker_cpu, 2),
                "reid_embed_s": round(t.reid_embed, 2),
                "export_s": None if export_seconds is None else round(export_seconds, 2),
                "peer_rtf": peer["rtf"],
                "peer": peer,
                "speedup_vs_peer": round((duration / seconds) / peer["rtf"], 2),
                "cpu_speedup_vs_peer": round((duration / cpu) / peer["rtf_cpu"], 2),
                "load_average_before": round(load_before, 2),
                "load_average_after": round(load_after, 2),
            }
        )
        print(f"done {path.name}: RTF {rows[-1]['rtf']}", file=sys.stderr)
    header = ("clip", "resolution", "duration_s", "frames_sampled", "tracks", "faces_embedded", "reid_embedded",
              "seconds", "rtf", "cpu_s", "rtf_cpu", "decode_s", "detect_s", "embed_s", "embed_worker_cpu_s",
              "peer_rtf", "speedup_vs_peer", "load_average_before", "load_average_after")  # fmt: skip
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[h]).ljust(w) for h, w in zip(header, widths, strict=True)))
    report = {
        "benchmark": "video face search",
        "inputs": origin,
        "sample_fps": args.fps,
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "embed_workers": args.embed_workers,
        "goal": "rtf >= 2 at 5 fps on 2 cores",
        "rows": rows,
        "note": "rtf = video seconds / analysis wall seconds (decode, detect, track, embed, match, cluster, "
        "store); rtf_cpu = video seconds / CPU seconds of the process (all threads) and of its embedding "
        "workers, which does not depend on other processes' load and is what one idle core would give "
        "without parallelism; embed_s = seconds the main process spent computing or awaiting fused "
        "embeddings; reid_embedded = SFace vectors for re-identification; export_s = a second call "
        "that reuses the analysis and writes the annotated MP4 and contact sheet; peer = detect + embed "
        "every face of every sampled frame",
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
