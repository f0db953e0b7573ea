"""Concurrency: the server's analysis pool, and a CLI writing the workspace while the server does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageEnhance

from imint.api.app import create_app
from imint.cases import service as cases
from imint.faces import pool as analysis_pool
from imint.faces.pool import Analysed, AnalysisPool, AnalysisWorkerError
from imint.settings import Settings
from imint.workspace import Workspace
from tests.api_support import astronaut_jpeg, make_users
from tests.conftest import astronaut, grace_hopper
from tests.db_support import child_env

SRC = Path(__file__).resolve().parent.parent / "src"


# -- worker targets (module level: a spawned worker imports them by name) --------------------------
def crash_first_time(model_id: str, path: str, name: str) -> Analysed:
    """Kill the worker on the first call for ``path`` (a marker file says it happened), then answer."""
    marker = Path(path + ".crashed")
    if not marker.exists():
        marker.write_text("x")
        os._exit(1)
    return Analysed("sha-of-" + name, None, "analysed after a crash")


def crash_always(model_id: str, path: str, name: str) -> Analysed:
    os._exit(1)


def test_a_crashed_worker_is_replaced_and_the_photo_sent_once_more(tmp_path: Path) -> None:
    pool = AnalysisPool("yunet/sface+dlib", 1, target=crash_first_time)
    try:
        done = pool.analyze(tmp_path / "photo.jpg", "photo.jpg")
        assert done.error == "analysed after a crash" and pool.restarts == 1
        assert pool.analyze(tmp_path / "photo.jpg", "photo.jpg").error == "analysed after a crash"
        assert pool.restarts == 1  # a healthy pool is not replaced
    finally:
        pool.close()


def test_a_photo_that_kills_its_worker_twice_gets_a_clear_error(tmp_path: Path) -> None:
    pool = AnalysisPool("yunet/sface+dlib", 1, target=crash_always)
    try:
        with pytest.raises(AnalysisWorkerError, match=r"poison\.jpg: the analysis worker stopped"):
            pool.analyze(tmp_path / "poison.jpg", "poison.jpg")
    finally:
        pool.close()
    with pytest.raises(AnalysisWorkerError, match="shut down"):
        pool.analyze(tmp_path / "poison.jpg", "poison.jpg")


def _variants(n: int) -> list[bytes]:
    """``n`` different photos of the astronaut (new bytes each: each is a fresh analysis)."""
    import io

    base = Image.fromarray(astronaut())
    out = []
    for i in range(n):
        img = ImageEnhance.Brightness(base.resize((400 + 16 * i, 400 + 16 * i))).enhance(0.85 + 0.05 * i)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def test_concurrent_fresh_searches_run_in_the_servers_workers(tmp_path: Path) -> None:
    ws_path = tmp_path / "ws"
    tokens = make_users(ws_path)
    app = create_app(ws_path, settings=Settings(workspace=ws_path, workers=2), run_jobs=False)
    headers = {"Authorization": f"Bearer {tokens['analyst']}", "Accept": "application/json"}
    photos = _variants(4)
    with TestClient(app) as client:
        ws = app.state.ws
        r = client.post(
            "/persons",
            data={"name": "Eileen Collins"},
            files=[("photos", ("ref.jpg", astronaut_jpeg(), "image/jpeg"))],
            headers=headers,
        )
        assert r.status_code in (200, 201), r.text
        pool = analysis_pool.attached(ws.db, ws.faces.model_id)
        assert pool is not None and pool.workers == 2

        def search(body: bytes) -> dict:
            r = client.post("/search", files=[("files", ("p.jpg", body, "image/jpeg"))], headers=headers)
            assert r.status_code == 200, r.text
            return r.json()

        with ThreadPoolExecutor(4) as threads:
            answers = list(threads.map(search, photos))
        for answer in answers:
            (result,) = answer["results"]
            assert len(result["faces"]) == 1 and result["reused_earlier_analysis"] is False
            assert result["faces"][0]["identity"] == "Eileen Collins"
        # The server process analysed nothing and loaded no engine (it needs the calibration only).
        assert ws.faces._engine is None
        # The same photos analysed in this process give the same faces (the workers ran the same engine).
        engine = ws.faces.engine
        from imint.media.images import decode_image

        here = engine.analyze(decode_image(photos[0], "p.jpg"))
        assert answers[0]["results"][0]["faces"][0]["box"] == pytest.approx(list(here.boxes[0]), abs=0.06)
        assert pool.restarts == 0
    # Shut down with the server: no pool left attached, no worker left running.
    assert analysis_pool.attached(ws.db, ws.faces.model_id) is None


def test_the_cli_and_the_server_write_one_workspace_at_once(tmp_path: Path, photos: dict[str, Path]) -> None:
    """A real CLI process enrolls (analysis included) and adds claims while the server's threads add
    claims: no 'database is locked', every write of both is there."""
    ws_path = tmp_path / "ws"
    tokens = make_users(ws_path)
    with Workspace(ws_path) as ws:
        case_id = cases.create_case(ws, "shared-case").id
    refs = []
    for i in range(4):
        p = tmp_path / f"ref{i}.jpg"
        Image.fromarray(grace_hopper()).resize((300 + 20 * i, 380 + 25 * i)).save(p, quality=90)
        refs.append(str(p))
    n_cli_claims = 12
    cli_script = (
        "import sys\n"
        "from imint.cli import app\n"
        "ws = sys.argv[1]\n"
        "app(['enroll', 'Grace Hopper', *sys.argv[2:], '-w', ws], standalone_mode=False)\n"
        f"for i in range({n_cli_claims}):\n"
        "    app(['claim', 'add', 'shared-case', f'cli claim {i}', '-w', ws], standalone_mode=False)\n"
    )
    env = child_env(ws_path, IMINT_USER="cli-user")
    app = create_app(ws_path, run_jobs=False)
    headers = {"Authorization": f"Bearer {tokens['analyst']}", "Accept": "application/json"}
    answered: list[int] = []
    failures: list[str] = []
    with TestClient(app) as client:
        cli = subprocess.Popen(
            [sys.executable, "-c", cli_script, str(ws_path), *refs],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lock = threading.Lock()

        def writer(k: int) -> None:
            i = 0
            # Keep writing while the CLI runs, and at least a few times each.
            while cli.poll() is None or i < 5:
                r = client.post(
                    f"/cases/{case_id}/claims", data={"text": f"api claim {k}-{i}"}, headers=headers
                )
                with lock:
                    (answered if r.status_code == 201 else failures).append(
                        r.json()["id"] if r.status_code == 201 else f"{r.status_code} {r.text[:200]}"
                    )
                i += 1
                time.sleep(0.05)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        out, err = cli.communicate(timeout=600)
        for t in threads:
            t.join(120)
    assert cli.returncode == 0, err
    assert "database is locked" not in err
    assert failures == []
    with Workspace(ws_path) as ws:
        texts = [c.text for c in cases.case_claims(ws, case_id)]
        assert sorted(t for t in texts if t.startswith("cli claim")) == sorted(
            f"cli claim {i}" for i in range(n_cli_claims)
        )
        assert len([t for t in texts if t.startswith("api claim")]) == len(answered) >= 15
        person = next(p for p in ws.faces.list_persons() if p["name"] == "Grace Hopper")
        assert person["references"] == 4
