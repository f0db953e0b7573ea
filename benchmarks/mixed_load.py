"""Mixed load with locust on loopback against a real ``imint serve``, for each number of workers.

For every ``--workers`` value: a fresh workspace with an admin, an analyst and a viewer (a token
each), one enrolled person and one case; ``imint serve`` started with ``IMINT_WORKERS``; locust
headless (``benchmarks/locustfile.py``) for ``--duration`` seconds; then its per-kind figures
(requests, failures, p50, p95, requests/s) and the machine's load average before and after.

    .venv/bin/python benchmarks/mixed_load.py --workers 1,2 --duration 90 --users 12
    .venv/bin/python benchmarks/mixed_load.py --workers 2 --json mixed.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import free_port, photos  # noqa: E402 - the sibling benchmark's helpers

HERE = Path(__file__).resolve().parent
ROLES = ("admin", "analyst", "viewer")


def prepare(tmp: Path, n_photos: int) -> tuple[Path, dict]:
    from imint.api import security
    from imint.workspace import Workspace

    ws = tmp / "ws"
    tokens = {}
    with Workspace(ws) as w, w.session() as s:  # as `imint users add` and `imint tokens create` do
        for role in ROLES:
            user = security.add_user(s, role, "load-password", role)
            _row, tokens[role] = security.create_token(s, user, "load test")
    folder = tmp / "photos"
    folder.mkdir()
    for name, body in photos(n_photos):
        (folder / name).write_bytes(body)
    return ws, {"tokens": tokens, "photos": str(folder)}


def start_server(ws: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IMINT_WORKERS": str(workers), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-c",
        "from imint.cli import main; main()",
        "serve",
        "-w",
        str(ws),
        "--port",
        str(port),
    ]
    log = ws.parent / f"server-w{workers}.log"  # a file: an unread pipe fills and blocks the server's logging
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True)
    deadline = time.monotonic() + 300  # a loaded shared machine starts it slowly
    while True:
        try:
            if httpx.get(base + "/login", timeout=2).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(f"server did not start: {log.read_text()[-3000:]}")
        time.sleep(0.3)


def seed(base: str, setup: dict, reference: Path) -> None:
    headers = {"Authorization": f"Bearer {setup['tokens']['analyst']}", "Accept": "application/json"}
    r = httpx.post(
        base + "/persons",
        data={"name": "Eileen Collins"},
        files=[("photos", (reference.name, reference.read_bytes(), "image/jpeg"))],
        headers=headers,
        timeout=300,
    )
    r.raise_for_status()
    r = httpx.post(
        base + "/cases", data={"name": "load-case", "title": "Load test"}, headers=headers, timeout=60
    )
    r.raise_for_status()
    setup["case_id"] = r.json()["id"]


def read_stats(prefix: Path) -> dict[str, dict]:
    out = {}
    with open(f"{prefix}_stats.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"]),
                "p95_ms": float(row["95%"]),
                "req_per_s": round(float(row["Requests/s"]), 2),
            }
    return out


def run_one(workers: int, args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"imint-mixed-w{workers}-"))
    ws, setup = prepare(tmp, args.photos)
    reference = tmp / "reference.jpg"
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(reference, quality=92)
    server, base = start_server(ws, workers)
    try:
        seed(base, setup, reference)
        setup_file = tmp / "setup.json"
        setup_file.write_text(json.dumps(setup))
        prefix = tmp / "locust"
        load_before = os.getloadavg()
        cmd = [
            sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
            "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.duration}s",
            "--host", base, "--csv", str(prefix), "--only-summary", "--stop-timeout", "60",
        ]  # fmt: skip
        run = subprocess.run(
            cmd, env={**os.environ, "IMINT_LOCUST_SETUP": str(setup_file)}, capture_output=True, text=True
        )
        load_after = os.getloadavg()
        failures_file = Path(f"{prefix}_failures.csv")
        failures = failures_file.read_text().strip().splitlines()[1:6] if failures_file.exists() else []
        return {
            "workers": workers,
            "duration_s": args.duration,
            "users": args.users,
            "locust_exit": run.returncode,
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in load_after],
            "kinds": read_stats(prefix),
            "failure_samples": failures,
        }
    finally:
        server.terminate()
        server.wait(60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1,2", help="comma-separated numbers of analysis workers to compare")
    ap.add_argument("--duration", type=int, default=90, help="seconds of load per run")
    ap.add_argument("--users", type=int, default=12, help="simulated users (viewers:analysts:admins = 2:3:1)")
    ap.add_argument("--spawn-rate", type=float, default=4)
    ap.add_argument("--photos", type=int, default=400, help="distinct photos to search (fresh analyses)")
    ap.add_argument("--json", type=Path, default=Path("bench-mixed.json"))
    args = ap.parse_args()
    runs = []
    for workers in (int(w) for w in args.workers.split(",")):
        run = run_one(workers, args)
        runs.append(run)
        print(json.dumps(run), flush=True)
    print(
        f"\n{'workers':>7} {'kind':12} {'requests':>8} {'fails':>5} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>6}  load avg"
    )
    for run in runs:
        for kind, x in run["kinds"].items():
            print(
                f"{run['workers']:>7} {kind:12} {x['requests']:>8} {x['failures']:>5} {x['p50_ms']:>8.0f} "
                f"{x['p95_ms']:>8.0f} {x['req_per_s']:>6}  {run['load_avg_before'][0]} -> {run['load_avg_after'][0]}"
            )
    args.json.write_text(json.dumps(runs, indent=2))
    print(f"wrote {args.json}")
    return 0 if all(k["failures"] == 0 for r in runs for k in r["kinds"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
