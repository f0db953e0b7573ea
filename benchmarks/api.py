"""Load on the REST API: N concurrent face searches on loopback, with latency percentiles.

Starts ``imint serve`` on a fresh workspace (a subprocess, as a user would run
it), enrolls one person, then sends ``--concurrency`` searches at once, twice:

* ``fresh``: every photo is new bytes (detection + embedding + 1:N search each),
* ``repeat``: the same photos again (the analysis is reused by hash; search only).

The peer in the same run is the library itself: ``ws.search`` over the same
photos in one process, one after another, without HTTP. The ratio says what the
web layer (upload, auth, audit, JSON) costs per photo.

    .venv/bin/python benchmarks/api.py            # 50 concurrent searches
    .venv/bin/python benchmarks/api.py --concurrency 20 --json bench-api.json
    PYTHONPATH=/other/tree/src .venv/bin/python benchmarks/api.py --no-peer   # another checkout's code

``--workers`` sets the server's analysis workers (``IMINT_WORKERS``; 0: one per core). ``--model``
sets the face model id the server analyses with (``IMINT_FACE_MODEL``; default: the tree's default).
``--profile-server FILE`` samples the server process with py-spy during the fresh burst (only the
threads holding the interpreter lock, ``--gil``: the server's Python work) and writes the collapsed
stacks to FILE (py-spy's ``raw`` format; sum the samples by frame to see where the CPU went).
A model id the tree has no calibration for (a faster option before its refit lands) is measured
with the default model's calibration borrowed, for timing only: its thresholds are not its own, and
the run says so (``calibration_borrowed_from``). The load average of the machine is written
before and after each burst: on a shared machine it says what else ran. ``server_start_s`` is the
time from starting ``imint serve`` to its first answer (it loads its analysis workers first).

Photos are made from public-domain images shipped in installed packages
(scikit-image's astronaut, matplotlib's Grace Hopper), varied in scale, crop and
brightness so that each is new to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageEnhance


def photos(n: int) -> list[tuple[str, bytes]]:
    import matplotlib.cbook as cbook
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = Image.open(fh).convert("RGB")
        hopper.load()
    bases = [("astronaut", Image.fromarray(data.astronaut())), ("hopper", hopper)]
    out = []
    rng = np.random.default_rng(7)
    for i in range(n):
        name, img = bases[i % 2]
        w, h = img.size
        scale = 0.6 + 0.5 * rng.random()
        dx, dy = int(rng.integers(0, w // 10)), int(rng.integers(0, h // 10))
        v = img.crop((dx, dy, w - dx // 2, h - dy // 2)).resize((int(w * scale), int(h * scale)))
        v = ImageEnhance.Brightness(v).enhance(0.8 + 0.4 * rng.random())
        if i % 4 >= 2:
            v = v.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        buf = io.BytesIO()
        v.save(buf, "JPEG", quality=90)
        out.append((f"{name}-{i:03d}.jpg", buf.getvalue()))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def imint(*args: str, stdin: str | None = None) -> str:
    cmd = [sys.executable, "-c", "from imint.cli import main; main()", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True).stdout.strip()


def process_tree_cpu_s(root: int) -> tuple[float, float]:
    """User + system CPU seconds of ``root`` and of its living descendants (the server, its workers), Linux /proc."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    descendants, todo = 0.0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        descendants += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return cpu.get(root, 0.0), descendants


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def burst(base: str, token: str, batch: list[tuple[str, bytes]]) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    faces = 0
    limits = httpx.Limits(max_connections=len(batch), max_keepalive_connections=len(batch))
    async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as client:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

        async def one(name: str, body: bytes) -> None:
            nonlocal faces
            t0 = time.perf_counter()
            try:
                r = await client.post(
                    "/search", files=[("files", (name, body, "image/jpeg"))], headers=headers
                )
            except httpx.HTTPError as exc:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                return
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors.append(f"{name}: HTTP {r.status_code} {r.text[:200]}")
            else:
                faces += sum(len(x["faces"]) for x in r.json()["results"])

        t0 = time.perf_counter()
        await asyncio.gather(*(one(n, b) for n, b in batch))
        wall = time.perf_counter() - t0
    return {
        "requests": len(batch),
        "errors": len(errors),
        "error_samples": errors[:5],
        "faces": faces,
        "wall_s": round(wall, 3),
        "throughput_per_s": round(len(batch) / wall, 2),
        "p50_ms": round(1000 * percentile(latencies, 50), 1),
        "p95_ms": round(1000 * percentile(latencies, 95), 1),
        "max_ms": round(1000 * max(latencies), 1) if latencies else None,
    }


def library_peer(batch: list[tuple[str, bytes]], tmp: Path) -> dict:
    """The same searches through the library in one process, one after another."""
    from imint.workspace import Workspace

    folder = tmp / "peer-photos"
    folder.mkdir()
    paths = []
    for name, body in batch:
        (folder / name).write_bytes(body)
        paths.append(folder / name)
    with Workspace(tmp / "peer-ws") as ws:
        ws.enroll("Eileen Collins", [tmp / "reference.jpg"])
        t0 = time.perf_counter()
        ws.search(paths)
        fresh = time.perf_counter() - t0
        t0 = time.perf_counter()
        ws.search(paths)
        repeat = time.perf_counter() - t0
    return {
        "fresh_per_photo_ms": round(1000 * fresh / len(batch), 1),
        "repeat_per_photo_ms": round(1000 * repeat / len(batch), 1),
    }


# ``imint serve`` as a user runs it, except that a model id without a calibration of its own borrows the
# tree's default model's (timing only; see the module docstring). Nothing is patched for a calibrated id.
SERVE = """
import functools, sys
import imint.faces.calibration as calibration
from imint.faces.engine import DEFAULT_MODEL
original = calibration.load_calibration

@functools.cache
def load_calibration(model_id, path=calibration.CALIBRATION_FILE):
    try:
        return original(model_id, path)
    except RuntimeError:
        return original(DEFAULT_MODEL, path)

for module in [m for name, m in list(sys.modules.items()) if name.startswith("imint.")]:
    if getattr(module, "load_calibration", None) is original:
        module.load_calibration = load_calibration
from imint.cli import main
main()
"""


def start_profiler(pid: int, out: Path | None) -> subprocess.Popen | None:
    """py-spy sampling the server's interpreter-lock holders into ``out`` (raw collapsed stacks)."""
    if out is None:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(spy), "record", "--pid", str(pid), "--gil", "--format", "raw", "--rate", "200", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the burst starts
    return proc


def stop_profiler(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    proc.wait(60)


def borrowed_calibration(model_id: str) -> str | None:
    """The model whose calibration ``model_id`` borrows in this benchmark (None: it has its own)."""
    from imint.faces.calibration import load_calibration
    from imint.faces.engine import DEFAULT_MODEL

    try:
        load_calibration(model_id)
    except RuntimeError:
        return DEFAULT_MODEL
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=50, help="searches sent at once")
    ap.add_argument("--json", type=Path, default=Path("bench-api.json"), help="where to write the results")
    ap.add_argument("--workers", type=int, default=None, help="the server's analysis workers (IMINT_WORKERS)")
    ap.add_argument("--no-peer", action="store_true", help="skip the one-process library comparison")
    ap.add_argument("--model", default="", help="face model id of the server (IMINT_FACE_MODEL)")
    ap.add_argument(
        "--profile-server",
        type=Path,
        default=None,
        help="py-spy samples of the server during the fresh burst",
    )
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.workers is not None:
        os.environ["IMINT_WORKERS"] = str(args.workers)
    borrowed = None
    if args.model:
        os.environ["IMINT_FACE_MODEL"] = args.model
        borrowed = borrowed_calibration(args.model)
        if borrowed:
            print(f"model {args.model} has no calibration in this tree: borrowing {borrowed}'s (timing only)")
    import imint as imint_package

    measured = str(Path(imint_package.__file__).parent)
    print(f"imint from {measured}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="imint-bench-api-"))
    ws_path = tmp / "ws"
    batch = photos(args.concurrency)
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp / "reference.jpg", quality=92)
    imint(
        "users",
        "add",
        "bench",
        "--role",
        "analyst",
        "--password-stdin",
        "-w",
        str(ws_path),
        stdin="bench-password\n",
    )
    token = imint("tokens", "create", "--user", "bench", "-w", str(ws_path))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = tmp / "server.log"
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVE,
            "serve",
            "-w",
            str(ws_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: nobody reads a pipe during the bursts, and a full one blocks the server's logging.
        stderr=server_log.open("w"),
        text=True,
    )
    try:
        deadline = time.monotonic() + 300  # a loaded shared machine starts it slowly
        while True:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    server_start_s = time.perf_counter() - started
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start: {server_log.read_text()[-3000:]}")
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        r = httpx.post(
            base + "/persons",
            data={"name": "Eileen Collins"},
            files=[("photos", ("reference.jpg", (tmp / "reference.jpg").read_bytes(), "image/jpeg"))],
            headers=headers,
            timeout=120,
        )
        r.raise_for_status()
        results: dict = {
            "concurrency": args.concurrency,
            "imint": measured,
            "workers": os.environ.get("IMINT_WORKERS", ""),
            "model": args.model or "(default)",
            "calibration_borrowed_from": borrowed,
            "server_start_s": round(server_start_s, 2),
        }
        for phase in ("fresh", "repeat"):
            load_before = os.getloadavg()
            cpu_before = process_tree_cpu_s(server.pid)
            spy = start_profiler(server.pid, args.profile_server) if phase == "fresh" else None
            results[phase] = asyncio.run(burst(base, token, batch))
            stop_profiler(spy)
            # CPU the server and its workers spent per photo: on a loaded machine wall time says
            # how much of the cores we got; this says how much work a search is.
            cpu_after = process_tree_cpu_s(server.pid)
            own, workers = (1000 * (a - b) / len(batch) for a, b in zip(cpu_after, cpu_before, strict=True))
            results[phase]["server_cpu_per_photo_ms"] = round(own + workers, 1)
            results[phase]["server_process_cpu_ms"] = round(own, 1)
            results[phase]["workers_cpu_ms"] = round(workers, 1)
            results[phase]["load_avg_before"] = [round(x, 2) for x in load_before]
            results[phase]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
            print(f"{phase}: {results[phase]}", flush=True)
        audit = httpx.get(base + "/audit.json?action=search&limit=5000", headers=headers, timeout=60)
        # The bench user is an analyst: the audit log is admin-only, which is the point.
        results["audit_visible_to_analyst"] = audit.status_code == 200
    finally:
        server.terminate()
        server.wait(30)
    log_text = server_log.read_text()
    results["server_errors"] = {
        "tracebacks": log_text.count("Traceback (most recent call last)"),
        "database_is_locked": log_text.count("OperationalError: database is locked"),
        "connection_pool_timeouts": log_text.count("QueuePool limit"),
        "log": str(server_log),
    }
    no_peer = {"fresh_per_photo_ms": None, "repeat_per_photo_ms": None}
    results["library_peer"] = no_peer if args.no_peer else library_peer(batch, tmp)
    for phase in ("fresh", "repeat"):
        api_per_photo = 1000 * results[phase]["wall_s"] / args.concurrency
        peer = results["library_peer"][f"{phase}_per_photo_ms"]
        results[phase]["wall_per_photo_ms"] = round(api_per_photo, 1)
        results[phase]["api_over_library"] = round(api_per_photo / peer, 2) if peer else None

    print(
        f"\n{args.concurrency} concurrent searches on {base} (cpus: {os.cpu_count()}, imint: {results['imint']}, "
        f"model: {results['model']}, server start {results['server_start_s']} s)"
    )
    print(
        f"{'phase':8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'req/s':>7} {'ms/photo':>9} "
        f"{'library':>8} {'ratio':>6} {'CPU ms/photo':>12}"
    )
    for phase in ("fresh", "repeat"):
        x = results[phase]
        print(
            f"{phase:8} {x['errors']:>6} {x['p50_ms']:>8} {x['p95_ms']:>8} {x['max_ms']:>8} "
            f"{x['throughput_per_s']:>7} {x['wall_per_photo_ms']:>9} "
            f"{str(results['library_peer'][phase + '_per_photo_ms']):>8} {str(x['api_over_library']):>6} "
            f"{x['server_cpu_per_photo_ms']:>12} (server {x['server_process_cpu_ms']}, workers {x['workers_cpu_ms']})"
        )
    for phase in ("fresh", "repeat"):
        for e in results[phase]["error_samples"]:
            print("error:", e)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    return 0 if results["fresh"]["errors"] == 0 and results["repeat"]["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
