"""Background jobs: long work (a folder, a video, a scene) with progress kept in the database.

A job is a row in ``jobs``. One worker thread runs queued jobs one after another
(the machine's cores belong to the face and ship detectors, not to the scheduler).
Progress is written to the row as the job goes, so a page or a script polls it and
a restart loses nothing: jobs found ``running`` when the server starts were cut off,
and are queued again with the count of items already done; handlers skip those
(and the work they repeat is idempotent: ingest and face scans are keyed by hash).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from imint.errors import ConflictError, ImintError, NotFoundError
from imint.store.db import utcnow
from imint.store.models_api import Job

log = logging.getLogger("imint.jobs")

# A part names its handlers in ``Part.jobs()``; the runner takes them from the workspace's parts.
JobHandler = Callable[["JobContext"], dict[str, Any]]


class JobStopped(Exception):
    """Raised inside a handler when the server shuts down; the job stays queued."""


class JobCancelled(Exception):
    """Raised inside a handler when someone cancelled the job."""


@dataclass
class JobContext:
    ws: Any  # imint.workspace.Workspace
    job_id: int
    kind: str
    params: dict[str, Any]
    user: str
    resume_from: int  # items already done before a restart
    _runner: JobRunner
    partial: dict[str, Any] = field(default_factory=dict)  # results saved before a restart
    _last_write: float = field(default=0.0)

    def checkpoint(self, done: int, total: int, partial: dict[str, Any], message: str = "") -> None:
        """Record progress together with the results so far, so a resumed job keeps them."""
        if self._runner.stopping.is_set():
            raise JobStopped
        with self.ws.session() as s:
            job = s.get(Job, self.job_id)
            if job.status == "cancelling":
                raise JobCancelled
            job.progress_done, job.progress_total, job.result = done, total, dict(partial)
            if message:
                job.message = message[:2000]
            job.updated_at = utcnow()
        self.partial = dict(partial)

    def progress(self, done: int, total: int, message: str = "", *, force: bool = False) -> None:
        """Record progress; written at most twice a second unless ``force`` or finished."""
        if self._runner.stopping.is_set():
            raise JobStopped
        now = time.monotonic()
        if not force and done < total and now - self._last_write < 0.5:
            return
        self._last_write = now
        with self.ws.session() as s:
            job = s.get(Job, self.job_id)
            if job.status == "cancelling":
                raise JobCancelled
            job.progress_done, job.progress_total = done, total
            if message:
                job.message = message[:2000]
            job.updated_at = utcnow()


class JobRunner:
    """Runs queued jobs on one background thread."""

    def __init__(self, ws: Any, handlers: Mapping[str, JobHandler] | None = None) -> None:
        self.ws = ws
        self.handlers: dict[str, JobHandler] = dict(ws.parts.jobs() if handlers is None else handlers)
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- submitting and reading -------------------------------------------------
    def submit(self, kind: str, params: dict[str, Any], *, user: str, total: int = 0) -> int:
        if kind not in self.handlers:
            raise NotFoundError("no such job kind", subject=kind)
        with self.ws.session() as s:
            job = Job(kind=kind, params=params, created_by=user, progress_total=total, message="queued")
            s.add(job)
            s.flush()
            job_id = job.id
        self._wake.set()
        return job_id

    def cancel(self, job_id: int) -> str:
        """Cancel a queued job at once, a running one at its next progress step; returns the new status."""
        with self.ws.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise NotFoundError("no such job", subject=f"job {job_id}")
            if job.status == "queued":
                job.status, job.message, job.finished_at = (
                    "cancelled",
                    "cancelled before it started",
                    utcnow(),
                )
            elif job.status == "running":
                job.status, job.message = "cancelling", "cancel requested"
            else:
                raise ConflictError(
                    f"the job is {job.status}; only queued or running jobs can be cancelled",
                    subject=f"job {job_id}",
                )
            job.updated_at = utcnow()
            return job.status

    # -- lifecycle ----------------------------------------------------------------
    def recover(self) -> list[int]:
        """Queue again the jobs a previous server left ``running``; returns their ids."""
        with self.ws.session() as s:
            for job in s.scalars(select(Job).where(Job.status == "cancelling")):
                job.status, job.message, job.finished_at = (
                    "cancelled",
                    "cancelled (server restarted)",
                    utcnow(),
                )
            cut_off = list(s.scalars(select(Job).where(Job.status == "running")))
            for job in cut_off:
                job.status = "queued"
                job.message = f"resumed after a server restart at {job.progress_done}/{job.progress_total}"
                job.updated_at = utcnow()
            return [j.id for j in cut_off]

    def start(self) -> None:
        if self._thread is not None:
            return
        self.stopping.clear()
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="imint-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until no job is queued or running (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.ws.session() as s:
                busy = s.scalar(select(Job.id).where(Job.status.in_(("queued", "running"))).limit(1))
            if busy is None:
                return True
            time.sleep(0.05)
        return False

    # -- the worker -----------------------------------------------------------------
    def _claim(self) -> JobContext | None:
        with self.ws.session() as s:
            job = s.scalar(select(Job).where(Job.status == "queued").order_by(Job.id).limit(1))
            if job is None:
                return None
            job.status = "running"
            job.attempts += 1
            job.started_at = job.started_at or utcnow()
            job.updated_at = utcnow()
            return JobContext(
                ws=self.ws,
                job_id=job.id,
                kind=job.kind,
                params=dict(job.params),
                user=job.created_by,
                resume_from=job.progress_done,
                _runner=self,
                partial=dict(job.result or {}) if job.progress_done else {},
            )

    def _finish(self, job_id: int, **fields: Any) -> None:
        with self.ws.session() as s:
            job = s.get(Job, job_id)
            for k, v in fields.items():
                setattr(job, k, v)
            job.updated_at = utcnow()
            if job.status in ("done", "failed"):
                job.finished_at = utcnow()

    def run_one(self) -> bool:
        """Run the oldest queued job to its end; False when none was queued."""
        ctx = self._claim()
        if ctx is None:
            return False
        handler = self.handlers.get(ctx.kind)
        try:
            if handler is None:
                raise NotFoundError("no handler for this job kind in this server", subject=ctx.kind)
            result = handler(ctx)
        except JobStopped:
            self._finish(ctx.job_id, status="queued", message="interrupted by shutdown; will resume")
        except JobCancelled:
            self._finish(ctx.job_id, status="cancelled", message="cancelled", finished_at=utcnow())
        except ImintError as exc:
            self._finish(ctx.job_id, status="failed", error=str(exc), message="failed")
        except Exception as exc:  # noqa: BLE001 - a job must never kill the worker
            log.error("job %s failed:\n%s", ctx.job_id, traceback.format_exc())
            self._finish(ctx.job_id, status="failed", error=f"{type(exc).__name__}: {exc}", message="failed")
        else:
            with self.ws.session() as s:
                total = s.get(Job, ctx.job_id).progress_total
            self._finish(ctx.job_id, status="done", result=result or {}, progress_done=total, message="done")
        return True

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                ran = self.run_one()
            except Exception:  # noqa: BLE001 - e.g. the database briefly locked
                log.error("job worker error:\n%s", traceback.format_exc())
                ran = False
            if not ran:
                self._wake.wait(1.0)
                self._wake.clear()


def job_to_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "params": job.params,
        "progress_done": job.progress_done,
        "progress_total": job.progress_total,
        "percent": round(100.0 * job.progress_done / job.progress_total, 1) if job.progress_total else None,
        "message": job.message,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "created_by": job.created_by,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "updated_at": job.updated_at,
        "finished_at": job.finished_at,
    }


def list_jobs(ws: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` jobs, newest first, as dicts."""
    with ws.session() as s:
        return [job_to_dict(j) for j in s.scalars(select(Job).order_by(Job.id.desc()).limit(max(1, limit)))]


def get_job(ws: Any, job_id: int) -> dict[str, Any]:
    """One job as a dict (NotFoundError when there is none)."""
    with ws.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFoundError("no such job", subject=f"job {job_id}")
        return job_to_dict(job)
