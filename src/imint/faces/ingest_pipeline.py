"""The photo half of ``imint ingest``: workers analyse files ahead, one writer stores them in batches.

A worker (a local process, or a Ray task in ``imint.faces.ray_ingest``) reads a file, hashes its
bytes, and, unless that hash was analysed before, decodes it, runs the face engine and computes
the perceptual hash the checks part stores (``imint.media.phash``). It writes nothing.

The writer (this process, the one holding the workspace) stores each result through
``Workspace.ingest`` and commits several photos per transaction: a kill loses at most the
batch in progress, and since a photo's faces and its ``face_scans`` row are in the same
transaction, a re-run analyses exactly the photos that were not committed, never one twice.
A bad photo in a batch is rolled back with it; the batch is then written again without it.

The worker's half lives in ``imint.faces.photo_worker`` (a worker process imports only that).
Measured findings behind this shape are in docs/ingest-throughput.md.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from imint.errors import BadInputError, ImintError
from imint.faces.analysis import analyze_evidence, store_analysis
from imint.faces.photo_worker import (
    ONE_THREAD_ENV,
    KnownHashes,
    PhotoWork,
    analyse_bytes,
    analyse_photo,
    limit_threads,
    network_builders,
    sha256_of_bytes,
    worker_analyse,
    worker_start,
)
from imint.faces.tables import FaceScan
from imint.media.ingest import log_custody

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from imint.faces.service import FaceService

__all__ = [
    "BatchWriter",
    "KnownHashes",
    "LocalWorkers",
    "PhotoWork",
    "analyse_bytes",
    "analyse_photo",
    "in_this_process",
    "limit_threads",
    "network_builders",
    "scanned_hashes",
    "sha256_of_bytes",
    "write_all",
]

# Photos per transaction: each commit is an fsync of the SQLite WAL; 32 photos are a few seconds of
# work at most, which is what a kill can lose.
BATCH_PHOTOS = 32
# ... or fewer when they took this long to arrive (a slow engine still commits every few seconds).
BATCH_SECONDS = 5.0


@dataclass
class WriteStats:
    """What the writer did, for the ingest report."""

    analysed: int = 0
    reused: int = 0
    faces: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    commits: int = 0
    worker_cpu_seconds: float = 0.0  # summed over the photos the workers analysed


@contextlib.contextmanager
def _main_not_reimported() -> Iterator[None]:
    """While workers spawn, hide where ``__main__`` came from so that they do not import it again.

    A spawned child re-imports the parent's main module (for ``imint`` that is the whole CLI and
    every part: 2.75 CPU-s, against 1.1 for what a worker needs; measured in
    docs/ingest-throughput.md). Nothing a worker runs lives in ``__main__``.
    """
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class LocalWorkers:
    """``workers`` persistent processes (spawned: no thread state is forked), each loading the engine once.

    They start at once, so their engine loading overlaps the writer's start; files go to them by
    path (a worker reads the bytes itself: no image crosses a process boundary, only its faces).
    """

    def __init__(self, model_id: str, workers: int, known: Collection[str]) -> None:
        import multiprocessing
        import tempfile
        from concurrent.futures import ProcessPoolExecutor

        self.model_id = model_id
        self.workers = workers
        from imint.faces.onnx_sessions import save_built_models

        # Read by each worker once it has started (see KnownHashes, network_builders); removed on close.
        self._known_dir = tempfile.TemporaryDirectory(prefix="imint-known-")
        known_file = Path(self._known_dir.name) / "known.npy"
        (known if isinstance(known, KnownHashes) else KnownHashes.of(known)).save(known_file)
        network_files = save_built_models(network_builders(model_id), Path(self._known_dir.name))
        saved = {k: os.environ.get(k) for k in ONE_THREAD_ENV}
        # The children read these at start; this process's libraries are loaded already.
        os.environ.update(ONE_THREAD_ENV)
        try:
            with _main_not_reimported():
                self.executor = ProcessPoolExecutor(
                    workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=worker_start,
                    initargs=(model_id, str(known_file), network_files),
                )
                # Start every worker now, in this environment (the pool starts one per submit).
                for _ in range(workers):
                    self.executor.submit(os.getpid)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def results(self, paths: Sequence[Path], ahead: int = 0) -> Iterator[PhotoWork]:
        """Every path's result as it completes, keeping ``ahead`` files queued (default 4 per worker)."""
        ahead = ahead or 4 * self.workers
        todo = iter(paths)
        running: set[Future] = set()
        for path in todo:
            running.add(self.executor.submit(worker_analyse, self.model_id, str(path)))
            if len(running) >= ahead:
                break
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
                nxt = next(todo, None)
                if nxt is not None:
                    running.add(self.executor.submit(worker_analyse, self.model_id, str(nxt)))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        # A worker still starting may not have read the file yet: it is gone with the pool either way.
        self._known_dir.cleanup()


def in_this_process(model_id: str, paths: Sequence[Path], known: Collection[str]) -> Iterator[PhotoWork]:
    """No workers: this process analyses each photo just before storing it."""
    for path in paths:
        yield analyse_photo(model_id, str(path), known)


def scanned_hashes(faces: FaceService) -> set[str]:
    """Every evidence hash this model analysed before (photos and videos alike)."""
    with faces.ws.session() as s:
        return set(s.scalars(select(FaceScan.evidence_sha256).where(FaceScan.model_id == faces.model_id)))


# -- the writer -------------------------------------------------------------------------------
class _PhotoFailed(Exception):
    def __init__(self, index: int, why: str) -> None:
        self.index, self.why = index, why


def _store_one(faces: FaceService, s: Session, work: PhotoWork) -> tuple[bool, int]:
    """Store one photo inside the batch's transaction: (analysed now, faces stored)."""
    from imint.checks.duplicates import PRECOMPUTED_HASHES

    ws = faces.ws
    path = Path(work.path)
    if work.image_hash is not None and work.sha256:
        # The checks part's ingest hook stores this pHash instead of decoding the photo again.
        s.info.setdefault(PRECOMPUTED_HASHES, {})[work.sha256] = work.image_hash
    evidence = ws.ingest(path, source=str(path), session=s)
    if s.get(FaceScan, (evidence.sha256, faces.model_id)) is not None:
        return False, 0
    if evidence.kind != "image":
        raise BadInputError(f"not a photo (detected as {evidence.kind})", subject=path)
    if work.sha256 == evidence.sha256 and work.faces is not None:
        rows = store_analysis(s, evidence, work.faces, faces.model_id)
    else:
        # The file changed between the worker's read and ours (or it was known then and its analysis
        # was rolled back since): analyse the bytes that were stored.
        rows, _ = analyze_evidence(faces, s, evidence)
    log_custody(s, evidence.sha256, "faces-analysed", ws.user, model=faces.model_id, faces=len(rows))
    return True, len(rows)


class BatchWriter:
    """Stores photos ``batch`` at a time, one transaction each (see the module's docstring)."""

    def __init__(
        self,
        faces: FaceService,
        *,
        batch: int = BATCH_PHOTOS,
        seconds: float = BATCH_SECONDS,
        on_stored: Callable[[PhotoWork], None] | None = None,
    ) -> None:
        self.faces = faces
        self.batch = max(1, batch)
        self.seconds = seconds
        self.on_stored = on_stored
        self.stats = WriteStats()
        self._pending: list[PhotoWork] = []
        self._since = time.monotonic()

    def add(self, work: PhotoWork) -> None:
        self.stats.worker_cpu_seconds += work.cpu_seconds
        if work.error is not None:  # never stored: like a photo whose transaction was rolled back
            self.stats.bad.append((work.path, str(BadInputError(work.error, subject=work.path))))
            self._done(work)
            return
        if not self._pending:
            self._since = time.monotonic()
        self._pending.append(work)
        if len(self._pending) >= self.batch or time.monotonic() - self._since >= self.seconds:
            self.commit()

    def commit(self) -> None:
        items, self._pending = self._pending, []
        while items:
            try:
                outcome = self._write(items)
            except _PhotoFailed as failed:
                bad = items.pop(failed.index)
                self.stats.bad.append((bad.path, failed.why))
                self._done(bad)
                continue
            for work, (analysed, n_faces) in zip(items, outcome, strict=True):
                self.stats.analysed += analysed
                self.stats.reused += not analysed
                self.stats.faces += n_faces
                self._done(work)
            self.stats.commits += 1
            return

    def _write(self, items: list[PhotoWork]) -> list[tuple[bool, int]]:
        outcome = []
        with self.faces.ws.session() as s:
            for i, work in enumerate(items):
                try:
                    outcome.append(_store_one(self.faces, s, work))
                except ImintError as exc:
                    raise _PhotoFailed(i, str(exc)) from exc
        return outcome

    def _done(self, work: PhotoWork) -> None:
        if self.on_stored:
            self.on_stored(work)


def write_all(writer: BatchWriter, results: Iterable[PhotoWork]) -> WriteStats:
    for work in results:
        writer.add(work)
    writer.commit()
    return writer.stats
