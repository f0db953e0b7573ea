"""``imint ingest --ray``: the same records as a local run, from a Ray cluster started on loopback."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from imint.workspace import Workspace
from tests.db_support import query

pytest.importorskip("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A one-node cluster of 2 CPUs on 127.0.0.1 in its own process group, stopped with that group."""
    ray_bin = Path(sys.executable).parent / "ray"
    port = _free_port()
    # Ray's socket paths must stay short: a temp dir directly under /tmp.
    temp_dir = tempfile.mkdtemp(prefix="imint-ray-", dir="/tmp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [
            str(ray_bin),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert head.poll() is None, "ray start ended early"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        else:
            pytest.fail("the Ray head did not open its port in 60 s")
        yield address
    finally:
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            try:
                head.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue


def _records(ws: Workspace) -> dict[str, list[tuple]]:
    """Every photo's faces: box, landmarks, scores, quality and embedding, in a stable order."""
    out: dict[str, list[tuple]] = {}
    rows = query(
        ws,
        "select evidence_sha256, x1, y1, x2, y2, det_score, quality, quality_reason, embedding, model_id "
        "from faces order by evidence_sha256, x1, y1",
    )
    scans = dict(query(ws, "select evidence_sha256, n_faces from face_scans"))
    for sha, *rest in rows:  # bytes on both databases (PostgreSQL's driver answers memoryview)
        out.setdefault(sha, []).append(tuple(bytes(v) if isinstance(v, memoryview) else v for v in rest))
    assert {sha: len(v) for sha, v in out.items()} == {s: n for s, n in scans.items() if n}
    return out


@pytest.mark.slow
def test_a_ray_run_stores_the_same_records_as_a_local_run(tmp_path, photos, ray_cluster):
    folder = tmp_path / "photos"
    folder.mkdir()
    for key in ("astronaut", "astronaut_crop", "grace_hopper"):
        (folder / photos[key].name).write_bytes(photos[key].read_bytes())
    (folder / "notes.jpg").write_text("not a photo\n")

    local = Workspace(tmp_path / "local", user="t")
    on_ray = Workspace(tmp_path / "ray", user="t")
    local_report = local.faces.ingest([folder])
    ray_report = on_ray.faces.ingest([folder], ray_address=ray_cluster)

    assert ray_report.ray_address == ray_cluster
    assert (ray_report.analysed, ray_report.faces) == (local_report.analysed, local_report.faces) == (3, 3)
    assert [p.rsplit("/", 1)[-1] for p, _ in ray_report.bad] == ["notes.jpg"]
    a, b = _records(local), _records(on_ray)
    assert sorted(a) == sorted(b) and len(a) == 3
    for sha in a:
        for ra, rb in zip(a[sha], b[sha], strict=True):
            assert np.allclose(ra[:6], rb[:6], atol=1e-4), sha  # box, detector score, quality
            assert ra[6:7] + ra[8:] == rb[6:7] + rb[8:]  # quality reason, model
            ea, eb = np.frombuffer(ra[7], np.float32), np.frombuffer(rb[7], np.float32)
            assert ea.shape == eb.shape and np.abs(ea - eb).max() <= 1e-6, sha
    # A second Ray run finds everything analysed (the driver skips known hashes before sending).
    again = on_ray.faces.ingest([folder], ray_address=ray_cluster)
    assert (again.analysed, again.reused, again.faces) == (0, 3, 0)


@pytest.mark.slow
def test_a_lost_ray_worker_is_retried(tmp_path, photos, ray_cluster, monkeypatch):
    """The first task of the file kills its own worker process; the file is sent again and stored once."""
    import imint.faces.ray_ingest as ray_ingest

    marker_dir = tmp_path / "first-try"
    marker_dir.mkdir()
    monkeypatch.setattr(ray_ingest, "_analyse_task", _dies_on_the_first_try(str(marker_dir)))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "gh.jpg").write_bytes(photos["grace_hopper"].read_bytes())
    ws = Workspace(tmp_path / "ws", user="t")
    report = ws.faces.ingest([folder], ray_address=ray_cluster)
    assert report.ray_retries == 1 and report.bad == []
    assert (report.analysed, report.faces) == (1, 1)
    assert [m.name for m in marker_dir.iterdir()] == ["gh.jpg"]


def _dies_on_the_first_try(marker_dir: str):
    def task(model_id: str, path: str, data: bytes):
        from imint.faces.ingest_pipeline import analyse_bytes
        from imint.faces.ray_ingest import limit_threads

        marker = Path(marker_dir) / Path(path).name
        if not marker.exists():
            marker.write_text("died")
            os._exit(1)  # the worker process is lost, as on a node that goes away
        limit_threads()
        return analyse_bytes(model_id, path, data)

    return task
