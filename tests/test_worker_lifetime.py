"""Analysis workers do not outlive a killed parent (a `kill -9` of `imint serve` or `imint ingest`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

# Parents that start two workers, report their pids and wait to be killed: the server's analysis pool
# (no engine: ``target`` is not the analysis) and the ingest's workers (each loads the default engine).
REPORT = "print(json.dumps([p.pid for p in multiprocessing.active_children()]), flush=True); time.sleep(600)"
SERVER = f"""
import json, multiprocessing, time
from imint.faces.pool import AnalysisPool

AnalysisPool("yunet/sface", 2, target=print).start(wait=True, timeout=120)
{REPORT}
"""
INGEST = f"""
import json, multiprocessing, os, time
from imint.faces.engine import DEFAULT_MODEL
from imint.faces.ingest_pipeline import LocalWorkers

workers = LocalWorkers(DEFAULT_MODEL, 2, [])
[workers.executor.submit(os.getpid).result(timeout=120) for _ in range(4)]
{REPORT}
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("script", [SERVER, INGEST], ids=["server pool", "ingest workers"])
def test_workers_exit_when_their_parent_is_killed(script: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        workers = json.loads(parent.stdout.readline())
        assert len(workers) >= 2 and all(_alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        left = [pid for pid in workers if _alive(pid)]
        assert not left, f"workers {left} outlived their killed parent"
    finally:
        parent.kill()
        for pid in workers if "workers" in locals() else []:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
