"""Background jobs keep their progress in the database and pick up where they stopped."""

from __future__ import annotations

import pytest

from imint.api.jobs import JobRunner
from imint.store.models_api import Job
from imint.workspace import Workspace
from tests.api_support import site  # noqa: F401 - pytest fixture

SEEN: list[int] = []


def _count(ctx):  # noqa: ANN001, ANN202
    n = ctx.params["n"]
    for i in range(n):
        if i < ctx.resume_from:
            continue
        SEEN.append(i)
        ctx.progress(i + 1, n, f"item {i}", force=True)
    return {"counted": n, "resumed_from": ctx.resume_from}


def _fail(ctx):  # noqa: ANN001, ANN202
    from imint.errors import BadInputError

    ctx.progress(1, 3, "first item", force=True)
    raise BadInputError("not a video", subject="clip.txt")


def _handlers():  # noqa: ANN202 - the job kinds of these tests, given to each runner
    return {"test-count": _count, "test-fail": _fail, "test-cancelled-midway": _cancelled_midway}


@pytest.fixture
def ws(tmp_path):  # noqa: ANN001, ANN201
    with Workspace(tmp_path / "ws") as w:
        yield w


def _job(ws, job_id):  # noqa: ANN001, ANN202
    with ws.session() as s:
        return s.get(Job, job_id)


def test_a_job_runs_and_writes_its_progress(ws):  # noqa: ANN001
    SEEN.clear()
    runner = JobRunner(ws, _handlers())
    job_id = runner.submit("test-count", {"n": 4}, user="ana", total=4)
    assert _job(ws, job_id).status == "queued"
    assert runner.run_one() is True
    job = _job(ws, job_id)
    assert (job.status, job.progress_done, job.progress_total) == ("done", 4, 4)
    assert job.result == {"counted": 4, "resumed_from": 0} and job.finished_at
    assert SEEN == [0, 1, 2, 3]
    assert runner.run_one() is False  # nothing left


def test_a_job_cut_off_by_a_restart_is_resumed_where_it_stopped(ws):  # noqa: ANN001
    SEEN.clear()
    with ws.session() as s:  # what a server killed mid-job leaves behind
        job = Job(
            kind="test-count",
            params={"n": 5},
            status="running",
            progress_done=3,
            progress_total=5,
            attempts=1,
        )
        s.add(job)
        s.flush()
        job_id = job.id
    runner = JobRunner(ws, _handlers())  # the next server start
    assert runner.recover() == [job_id]
    recovered = _job(ws, job_id)
    assert recovered.status == "queued" and "resumed after a server restart at 3/5" in recovered.message
    runner.run_one()
    job = _job(ws, job_id)
    assert job.status == "done" and job.attempts == 2
    assert job.result["resumed_from"] == 3 and SEEN == [3, 4]


def test_a_failing_job_keeps_its_error_and_the_worker_goes_on(ws):  # noqa: ANN001
    runner = JobRunner(ws, _handlers())
    bad = runner.submit("test-fail", {}, user="ana", total=3)
    good = runner.submit("test-count", {"n": 1}, user="ana", total=1)
    runner.run_one()
    runner.run_one()
    failed = _job(ws, bad)
    assert failed.status == "failed" and failed.error == "clip.txt: not a video"
    assert failed.progress_done == 1  # how far it got
    assert _job(ws, good).status == "done"


def test_unknown_job_kinds_are_refused(ws):  # noqa: ANN001
    from imint.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no-such-kind"):
        JobRunner(ws, _handlers()).submit("no-such-kind", {}, user="ana")
    # A runner without explicit handlers takes those of the workspace's parts.
    assert "face-search" in JobRunner(ws).handlers and "test-count" not in JobRunner(ws).handlers


def test_job_pages_show_progress_as_html_json_and_htmx_fragment(site):  # noqa: F811
    site.app.state.jobs.handlers.update(_handlers())
    job_id = site.app.state.jobs.submit("test-count", {"n": 2}, user="analyst", total=2)
    assert site.app.state.jobs.wait_idle(30)
    as_json = site.client.get(f"/jobs/{job_id}.json", headers=site.auth("viewer")).json()["job"]
    assert as_json["status"] == "done" and as_json["percent"] == 100.0
    headers = {"Authorization": site.auth("viewer")["Authorization"]}
    page = site.client.get(f"/jobs/{job_id}", headers={**headers, "Accept": "text/html"})
    assert "<progress" in page.text and "<html" in page.text
    fragment = site.client.get(f"/jobs/{job_id}", headers={**headers, "HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="job-progress"') and "<html" not in fragment.text
    listing = site.client.get("/jobs.json", headers=site.auth("viewer")).json()["jobs"]
    assert listing[0]["id"] == job_id


def _cancelled_midway(ctx):  # noqa: ANN001, ANN202
    ctx.progress(1, 3, "first", force=True)
    ctx._runner.cancel(ctx.job_id)  # someone presses Cancel while it runs
    ctx.progress(2, 3, "second", force=True)
    raise AssertionError("a cancelled job must not go on")


def test_cancel_a_queued_job_at_once_and_a_running_one_at_its_next_step(ws):  # noqa: ANN001
    runner = JobRunner(ws, _handlers())
    queued = runner.submit("test-count", {"n": 1}, user="ana", total=1)
    assert runner.cancel(queued) == "cancelled"
    running = runner.submit("test-cancelled-midway", {}, user="ana", total=3)
    runner.run_one()
    job = _job(ws, running)
    assert (job.status, job.progress_done) == ("cancelled", 1) and job.finished_at
    from imint.errors import ConflictError

    with pytest.raises(ConflictError, match="cancelled"):
        runner.cancel(running)


def test_only_the_author_or_an_admin_cancels_over_http(site):  # noqa: F811
    site.app.state.jobs.stop()  # keep the job queued
    site.app.state.jobs.handlers.update(_handlers())
    job_id = site.app.state.jobs.submit("test-count", {"n": 1}, user="admin", total=1)
    r = site.client.post(f"/jobs/{job_id}/cancel", headers=site.auth("analyst"))
    assert r.status_code == 403
    r = site.client.post(f"/jobs/{job_id}/cancel", headers=site.auth("admin"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_a_server_restart_resumes_a_folder_search_where_it_stopped(tmp_path):  # noqa: ANN001
    from fastapi.testclient import TestClient

    from imint.api.app import create_app
    from tests.api_support import astronaut_jpeg, hopper_jpeg, make_users

    ws_path = tmp_path / "ws"
    tokens = make_users(ws_path)
    auth = {"Authorization": f"Bearer {tokens['analyst']}", "Accept": "application/json"}
    batch = ws_path / "inbox" / "batch"
    batch.mkdir(parents=True)
    (batch / "1.jpg").write_bytes(astronaut_jpeg())
    (batch / "2.jpg").write_bytes(hopper_jpeg())

    # First server: the job is accepted, then the server dies after the first photo.
    with TestClient(create_app(ws_path, run_jobs=False)) as client:
        job_id = client.post("/search/folder", data={"folder": "batch"}, headers=auth).json()["job_id"]
    with Workspace(ws_path) as w, w.session() as s:
        job = s.get(Job, job_id)
        job.status, job.progress_done, job.attempts = "running", 1, 1
        # What the job had saved after its first photo (see JobContext.checkpoint).
        job.result = {"evidence": [{"name": "batch/1.jpg", "sha256": "", "faces": 1, "identities": []}]}

    # Second server: it finds the job cut off, queues it again and finishes it from photo 2.
    app = create_app(ws_path)
    with TestClient(app) as client:
        assert app.state.jobs.wait_idle(120)
        job = client.get(f"/jobs/{job_id}", headers=auth).json()["job"]
    assert job["status"] == "done" and job["attempts"] == 2
    assert job["result"]["resumed_from"] == 1
    # Photo 1 was not searched again, and its results were kept.
    assert [e["name"] for e in job["result"]["evidence"]] == ["batch/1.jpg", "batch/2.jpg"]
    with Workspace(ws_path) as w, w.session() as s:
        from imint.store.models import EvidenceRow

        assert [r.original_name for r in s.query(EvidenceRow)] == ["2.jpg"]
