"""The analysis pool's workers: warm before the first photo, one thread per runtime, the pHash they
take reaches the checks part (stored as if the server had decoded the photo), no engine in the server."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageEnhance

from imint.api.app import create_app
from imint.checks.tables import CheckResultRow, ImageHashRow
from imint.faces import pool as analysis_pool
from imint.faces.pool import Analysed, AnalysisPool, AnalysisWorkerError
from imint.media.images import decode_image
from imint.media.phash import METHOD, hash_image
from imint.settings import Settings
from imint.workspace import Workspace
from tests.api_support import astronaut_jpeg, make_users
from tests.conftest import astronaut

MODEL = "yunet/sface+dlib"


def answer_without_engine(model_id: str, path: str, name: str) -> Analysed:
    return Analysed("sha-of-" + name, None, "not analysed")


def test_start_waits_until_every_worker_has_reported(tmp_path: Path) -> None:
    pool = AnalysisPool(MODEL, 2, target=answer_without_engine)
    try:
        seconds = pool.start(wait=True, timeout=120)
        assert seconds > 0
        # Both processes are up: two tasks at once are answered by two different workers' pids.
        assert len(pool._executor._processes) == 2
        assert pool.analyze(tmp_path / "x.jpg", "x.jpg").error == "not analysed"
    finally:
        pool.close()
    with pytest.raises(AnalysisWorkerError, match="shut down"):
        pool.start(wait=True)


def test_each_worker_runs_every_runtime_on_one_thread() -> None:
    pool = AnalysisPool(MODEL, 1)
    try:
        pool.start(wait=True)
        counts = pool.thread_counts()
    finally:
        pool.close()
    assert counts["opencv"] == 1 and counts["onnxruntime"] == 1
    # numpy's, OpenCV's and faiss's BLAS and OpenMP pools, whichever are loaded, at one thread each.
    assert all(n == 1 for n in counts.values()), counts


def _photo(i: int) -> bytes:
    img = ImageEnhance.Brightness(Image.fromarray(astronaut()).resize((420 + 24 * i, 420 + 24 * i)))
    buf = io.BytesIO()
    img.enhance(0.9 + 0.05 * i).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_a_search_in_the_server_stores_the_checks_with_the_workers_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding_here(data: bytes, name: str) -> None:
        raise AssertionError("the server decoded a photo its worker had hashed")

    def no_engine_here(model_id: str | None = None) -> None:
        raise AssertionError("the server process loaded an engine (its workers analyse)")

    # The checks part's hash (near-duplicates) must come from the worker: decoding here would fail.
    monkeypatch.setattr("imint.checks.duplicates.decode_image", no_decoding_here)
    # Nor may any of the server's views load an engine (the reference index once did, for its width).
    monkeypatch.setattr("imint.faces.service.get_engine", no_engine_here)
    ws_path = tmp_path / "ws"
    tokens = make_users(ws_path)
    app = create_app(
        ws_path, settings=Settings(workspace=ws_path, workers=1), run_jobs=False, warm_workers=True
    )
    headers = {"Authorization": f"Bearer {tokens['analyst']}", "Accept": "application/json"}
    with TestClient(app) as client:
        ws = app.state.ws
        pool = analysis_pool.attached(ws.db, ws.faces.model_id)
        assert pool is not None and pool._executor is not None  # started with the app, not on first use
        r = client.post(
            "/persons",
            data={"name": "Eileen Collins"},
            files=[("photos", ("ref.jpg", astronaut_jpeg(), "image/jpeg"))],
            headers=headers,
        )
        assert r.status_code in (200, 201), r.text
        bodies = [_photo(i) for i in range(2)]
        shas = []
        for body in bodies:
            r = client.post("/search", files=[("files", ("p.jpg", body, "image/jpeg"))], headers=headers)
            assert r.status_code == 200, r.text
            (result,) = r.json()["results"]
            assert result["faces"][0]["identity"] == "Eileen Collins"
            shas.append(result["sha256"])
        # The server process analysed nothing and loaded no engine: the worker did both.
        assert ws.faces._engine is None
    with Workspace(ws_path) as ws, ws.session() as s:
        for sha, body in zip(shas, bodies, strict=True):
            stored = s.get(ImageHashRow, (sha, METHOD))
            expected = hash_image(decode_image(body, "p.jpg"))
            assert (stored.hash_hex, stored.mirror_hex) == (expected.hash_hex, expected.mirror_hex)
            checks = {row.check: row.status for row in s.query(CheckResultRow).filter_by(evidence_sha256=sha)}
            assert set(checks) == {"metadata", "c2pa", "near_duplicates", "first_seen"}
            assert "error" not in checks.values(), checks
        # The second photo is a resized copy of the first (and of the reference): found as such.
        near = s.query(CheckResultRow).filter_by(evidence_sha256=shas[1], check="near_duplicates").one()
        assert shas[0] in {m["sha256"] for m in near.details["matches"]}


def test_the_face_model_comes_from_the_settings(tmp_path: Path) -> None:
    settings = Settings.from_env({"IMINT_FACE_MODEL": "yunet-ort/sface+dlib"}, workspace=tmp_path / "ws")
    assert settings.face_model == "yunet-ort/sface+dlib"
    with Workspace(tmp_path / "ws", settings=settings) as ws:
        assert ws.faces.model_id == "yunet-ort/sface+dlib"
    with Workspace(tmp_path / "ws2") as ws:
        from imint.faces.engine import DEFAULT_MODEL

        assert ws.faces.model_id == DEFAULT_MODEL
