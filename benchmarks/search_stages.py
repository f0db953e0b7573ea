"""Where the time of one fresh ``POST /search`` goes, stage by stage (server side), in ms per photo.

Runs the real web app in this process (FastAPI's TestClient, the server's analysis pool with
``--workers`` worker processes), enrolls one person, then sends ``--photos`` fresh photos one after
another. Timers are wrapped around the functions of the request path (looked up by module and
name, so a tree without one of them just reports nothing for it); times are inclusive (a stage
includes the stages listed under it). The worker side (read, hash, decode, detect, embed) is timed
by running the same steps with this process's engine on the same photos.

    PYTHONPATH=src .venv/bin/python benchmarks/search_stages.py --photos 20
    PYTHONPATH=src .venv/bin/python benchmarks/search_stages.py --model yunet-ort/sface+dlib-tinyflip

The CPU line says how much processor time the server process and its workers spent per photo:
with 2 cores, 50 concurrent searches cannot finish faster than 50 x (server + workers) / 2, nor
faster than 50 x server (one Python process: its request work runs one thread at a time).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import photos  # noqa: E402  (the benchmark's photos: same bytes as benchmarks/api.py)

_times: dict[str, list[float]] = defaultdict(list)
_in_stage = threading.local()
_lock = threading.Lock()


_cpu: dict[str, float] = defaultdict(float)


def _record(label: str, seconds: float, cpu: float = 0.0) -> None:
    with _lock:
        _times[label].append(seconds)
        _cpu[label] += cpu


_profiler: Any = None  # a cProfile.Profile when --profile is given: enabled inside the timed stages


def wrap(
    module: str, attr: str, label: str, *, cm: bool = False, key: Callable[..., str] | None = None
) -> None:
    """Time calls of ``module.attr`` (``Class.method`` allowed); ``cm``: time a context manager's entry."""
    try:
        owner: Any = importlib.import_module(module)
    except ImportError:
        return
    *path, name = attr.split(".")
    for p in path:
        owner = getattr(owner, p, None)
        if owner is None:
            return
    original = getattr(owner, name, None)
    if original is None:
        return

    if cm:

        @contextlib.contextmanager
        def timed_cm(*args: Any, **kwargs: Any) -> Iterator[Any]:
            t0, c0 = time.perf_counter(), time.thread_time()
            with original(*args, **kwargs) as value:
                _record(label, time.perf_counter() - t0, time.thread_time() - c0)
                yield value

        setattr(owner, name, timed_cm)
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        outermost = _profiler is not None and not getattr(_in_stage, "on", False)
        if outermost:
            _in_stage.on = True
            _profiler.enable()
        try:
            return original(*args, **kwargs)
        finally:
            if outermost:
                _profiler.disable()
                _in_stage.on = False
            _record(key(*args, **kwargs) if key else label, time.perf_counter() - t0, time.thread_time() - c0)

    setattr(owner, name, timed)


# (module, attribute, label, options): the request path, outermost first.
STAGES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("imint.api.app", "GuardMiddleware._authenticate", "auth (token look-up)", {}),
    ("imint.faces.routes", "saved_uploads", "upload saved to a temp file", {"cm": True}),
    ("imint.faces.service", "FaceService.search", "ws.faces.search (all below)", {}),
    ("imint.faces.pool", "Prefetch.__init__", "  send to pool (hash, scanned?, submit)", {}),
    ("imint.faces.pool", "Prefetch.wait", "  wait for the worker's analysis", {}),
    ("imint.faces.search", "search_photo", "  search_photo (all below)", {}),
    ("imint.workspace", "Workspace.ingest", "    ws.ingest (all below)", {}),
    ("imint.workspace", "ingest_file", "      ingest_file (below + rows)", {}),
    ("imint.media.ingest", "sha256_file", "        sha256 of the file", {}),
    ("imint.media.ingest", "read_metadata", "        read_metadata (EXIF)", {}),
    ("imint.media.ingest", "_copy_into_store", "        copy into the object store", {}),
    ("imint.checks.part", "ChecksPart.on_ingest", "      checks part on_ingest", {}),
    ("imint.faces.search", "analyze_evidence", "    store faces (analyze_evidence)", {}),
    ("imint.faces.engine", "FaceEngine.analyze", "      engine.analyze (in this process)", {}),
    ("imint.faces.search", "log_custody", "    custody 'searched'", {}),
    ("imint.faces.search", "match_faces", "    1:N match_faces", {}),
    ("imint.faces.service", "FaceService.reference_index", "      reference index", {}),
    ("imint.faces.search", "record_matches", "    record_matches", {}),
    ("imint.faces.search", "mark_searched_copies", "  copy groups (mark_searched_copies)", {}),
    ("imint.faces.routes", "audit_event", "audit_event", {}),
    ("imint.faces.routes", "done", "JSON answer (done)", {}),
    ("sqlalchemy.orm", "Session.commit", "  (every Session.commit)", {}),
]


def _check_key(spec: Any, ctx: Any) -> str:
    return f"        check {spec.name}"


def install_timers() -> None:
    for module, attr, label, options in STAGES:
        wrap(module, attr, label, **options)
    wrap("imint.checks.runner", "_run_one", "", key=_check_key)


def count_statements(engine: Any) -> list[str]:
    """Every statement the engine's connections send from now on (SAVEPOINT and RELEASE included, BEGIN
    and COMMIT not: the driver sends those), its first 160 characters."""
    from sqlalchemy import event

    sent: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split())[:160])

    event.listen(engine, "before_cursor_execute", before)
    return sent


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (Linux ``/proc``)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def worker_side(model_id: str, batch: list[tuple[str, bytes]], tmp: Path) -> dict[str, float]:
    """The worker's steps, timed with this process's engine on the same photos (ms per photo)."""
    import hashlib

    from imint.faces.engine import get_engine
    from imint.faces.quality import assess
    from imint.media.images import decode_image

    engine = get_engine(model_id)
    steps: dict[str, float] = defaultdict(float)
    for name, body in batch:
        path = tmp / name
        path.write_bytes(body)
        t0 = time.perf_counter()
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        t1 = time.perf_counter()
        image = decode_image(data, name)
        t2 = time.perf_counter()
        faces = engine.detector.detect(image)
        t3 = time.perf_counter()
        faces.quality, faces.quality_reason = assess(image, faces)
        t4 = time.perf_counter()
        engine.embed(image, faces)
        t5 = time.perf_counter()
        for label, dt in (
            ("read + sha256", t1 - t0),
            ("decode", t2 - t1),
            ("detect", t3 - t2),
            ("quality", t4 - t3),
            ("embed", t5 - t4),
        ):
            steps[label] += 1000 * dt / len(batch)
    return dict(steps)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=20, help="fresh photos searched one after another")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="", help="face model id (IMINT_FACE_MODEL); default: the tree's")
    ap.add_argument("--no-worker-side", action="store_true")
    ap.add_argument("--profile", type=Path, default=None, help="write a cProfile of the timed stages here")
    ap.add_argument(
        "--statements", type=Path, default=None, help="write every SQL statement of the timed searches here"
    )
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.model:
        os.environ["IMINT_FACE_MODEL"] = args.model
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from fastapi.testclient import TestClient
    from tests.api_support import make_users

    from imint.api.app import create_app
    from imint.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="imint-stages-"))
    ws_path = tmp / "ws"
    tokens = make_users(ws_path)
    batch = photos(args.photos + 1)
    settings = Settings.from_env(workspace=ws_path, workers=args.workers)
    app = create_app(ws_path, settings=settings, run_jobs=False)
    headers = {"Authorization": f"Bearer {tokens['analyst']}", "Accept": "application/json"}
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp / "reference.jpg", quality=92)
    t0 = time.perf_counter()
    with TestClient(app) as client:
        started = time.perf_counter() - t0
        ws = app.state.ws
        r = client.post(
            "/persons",
            data={"name": "Eileen Collins"},
            files=[("photos", ("reference.jpg", (tmp / "reference.jpg").read_bytes(), "image/jpeg"))],
            headers=headers,
        )
        r.raise_for_status()
        # One search to warm every path (first queries, the reference index), not counted.
        name, body = batch[0]
        client.post(
            "/search", files=[("files", (name, body, "image/jpeg"))], headers=headers
        ).raise_for_status()
        try:
            from imint.faces import pool as analysis_pool
        except ImportError:  # a tree from before the pool: analysis in this process
            pool = None
        else:
            pool = analysis_pool.attached(ws.db, ws.faces.model_id)
        worker_pids = list(pool._executor._processes) if pool and pool._executor else []
        install_timers()
        if args.profile:
            import cProfile

            global _profiler
            _profiler = cProfile.Profile(time.thread_time)  # CPU time: less at the mercy of the load
        statements = count_statements(ws.db.engine)
        parent_cpu0, workers_cpu0 = time.process_time(), cpu_seconds(worker_pids)
        request_ms = []
        for name, body in batch[1:]:
            t = time.perf_counter()
            r = client.post("/search", files=[("files", (name, body, "image/jpeg"))], headers=headers)
            request_ms.append(1000 * (time.perf_counter() - t))
            r.raise_for_status()
        parent_cpu = 1000 * (time.process_time() - parent_cpu0) / args.photos
        workers_cpu = 1000 * (cpu_seconds(worker_pids) - workers_cpu0) / args.photos
        model_id = ws.faces.model_id
        if args.statements:
            args.statements.write_text("\n".join(statements) + "\n")
        if _profiler is not None:
            _profiler.dump_stats(str(args.profile))
    n = args.photos
    print(f"model {model_id}, {n} fresh photos one after another, workers {args.workers}")
    print(
        f"load average {open('/proc/loadavg').read().split()[:3]}; app start (lifespan) {1000 * started:.0f} ms"
    )
    print(f"\n{'stage (server process)':52} {'wall ms':>8} {'CPU ms':>7} {'calls':>6}  (per photo)")
    print(f"{'whole request (client side)':52} {sum(request_ms) / n:8.1f} {'':>7} {n:6d}")
    labels = [label for _m, _a, label, _o in STAGES] + sorted(
        k for k in _times if k.strip().startswith("check ")
    )
    for label in labels:
        if label in _times:
            wall, cpu = 1000 * sum(_times[label]) / n, 1000 * _cpu[label] / n
            print(f"{label:52} {wall:8.1f} {cpu:7.1f} {len(_times[label]):6d}")
    print(
        f"SQL statements per photo (the engine's connections; BEGIN/COMMIT not counted): {len(statements) / n:.1f}"
    )
    print(
        f"\nCPU per photo: server process {parent_cpu:.1f} ms (this process, incl. the test client), "
        f"workers {workers_cpu:.1f} ms ({len(worker_pids)} worker pids)"
    )
    if not args.no_worker_side:
        steps = worker_side(model_id, batch[1:], tmp)
        print(f"\n{'worker side (same steps, this process)':52} {'ms/photo':>9}")
        for label, ms in steps.items():
            print(f"{label:52} {ms:9.1f}")
        print(f"{'total':52} {sum(steps.values()):9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
