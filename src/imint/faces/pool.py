"""Analysis worker processes: fresh photos are decoded, detected and embedded in parallel.

A server answers many requests at once, but one face engine runs one image at a time
(OpenCV's detector keeps per-call state, so ``FaceEngine`` serialises its image work behind a
lock). The pool keeps ``workers`` processes (spawned, so no thread or lock state is forked),
each with its own engine loaded once, and hands them photos by path. Workers only compute:
they return plain arrays (``imint.records.Faces``) and never open the database; the server
process stores what they return, in short transactions.

Each worker also takes the photo's perceptual hash from the pixels it decoded (``image_hash``): the
checks part's ingest hook stores that hash instead of decoding the photo a second time in the
server (``imint.checks.duplicates.PRECOMPUTED_HASHES``). The server process itself loads no engine.

A worker that dies (a decoder crash, the OOM killer) breaks the executor; the pool starts a
fresh one and sends the photo once more. A photo that kills a worker twice is answered with
``AnalysisWorkerError``, so one bad file never loops.

``attach`` / ``attached`` make one pool per workspace database the pool of every per-user view
of that workspace (``Workspace.as_user``), as the server's users share its processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imint.errors import BadInputError, ImintError

if TYPE_CHECKING:
    from imint.faces.engine import FaceEngine
    from imint.media.phash import ImageHash
    from imint.records import Faces

# How long ``AnalysisPool.start(wait=True)`` waits for every worker's engine (a loaded machine is slow).
WARM_TIMEOUT_S = 300.0


class AnalysisWorkerError(ImintError):
    """An analysis worker process stopped while working on a file (twice): the file was not analysed."""

    exit_code = 5
    http_status = 503


@dataclass
class Analysed:
    """What a worker sends back for one photo: its hash, its faces, or the reason it was refused."""

    sha256: str
    faces: Faces | None
    error: str | None = None
    image_hash: ImageHash | None = None  # the pHash of the decoded pixels, for the checks part


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# -- in the worker process ------------------------------------------------------------------------
def _worker_start(model_id: str, warm: bool, ready: Any = None) -> None:
    """A worker's initializer: one thread for every runtime, the engine loaded, then ``ready`` told."""
    from imint.faces.photo_worker import ONE_THREAD_ENV, limit_threads
    from imint.faces.worker_lifetime import exit_with_parent

    exit_with_parent()
    # One thread per runtime in each worker: the processes are the parallelism (2 cores, 2 workers,
    # not 2 x 2). Set before the engine's libraries load (OpenMP, OpenBLAS, MKL read these once), then
    # on the pools already loaded.
    os.environ.update(ONE_THREAD_ENV)
    if warm:
        from imint.faces.engine import get_engine

        get_engine(model_id)  # loaded before the first photo, not during it
    limit_threads()
    if ready is not None:
        ready.put(os.getpid())


def _started() -> None:
    """Nothing: a task that makes the executor start a worker (its initializer loads the engine)."""


def _thread_counts() -> dict[str, int]:
    """The thread counts of this worker's runtimes (tests check that each is one)."""
    import cv2

    from imint.faces.onnx_sessions import inference_threads

    counts = {"opencv": cv2.getNumThreads(), "onnxruntime": inference_threads()}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return counts
    for pool in threadpool_info():
        key = f"{pool['internal_api']}:{Path(pool['filepath']).name}"
        counts[key] = int(pool["num_threads"])
    return counts


def _worker_analyse(model_id: str, path: str, name: str) -> Analysed:
    from imint.faces.engine import get_engine

    return analyse_file(get_engine(model_id), path, name)


def analyse_file(engine: FaceEngine, path: str | Path, name: str) -> Analysed:
    """Decode (once), detect, assess and embed one photo file, and take its pHash; nothing is written here."""
    from imint.media.images import decode_image
    from imint.media.phash import hash_image

    data = Path(path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    try:
        rgb = decode_image(data, name)
        return Analysed(sha, engine.analyze(rgb), image_hash=hash_image(rgb))
    except ImintError as exc:
        return Analysed(sha, None, exc.reason)


class Ready:
    """A photo analysed already (in this process): ``result()`` as a ``PoolTask``'s."""

    def __init__(self, done: Analysed) -> None:
        self._done = done

    def result(self) -> Analysed:
        return self._done

    def done(self) -> bool:
        return True


# -- in the server process ------------------------------------------------------------------------
class AnalysisPool:
    """``workers`` engine processes (0: one per core), started by ``start`` or on the first photo sent."""

    def __init__(
        self, model_id: str, workers: int = 0, *, target: Callable[..., Analysed] | None = None
    ) -> None:
        if workers < 0:
            raise BadInputError("the number of workers cannot be negative", subject="workers")
        self.model_id = model_id
        self.workers = workers or default_workers()
        # ``target`` replaces the analysis (tests send a function that kills its worker).
        self._target = target or _worker_analyse
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0
        self._ready: Any = None  # the queue the current executor's workers report "engine loaded" on

    def start(self, *, wait: bool = False, timeout: float = WARM_TIMEOUT_S) -> float:
        """Start every worker now (each loads its engine); with ``wait``, return once all of them have
        (the seconds it took), so that a server's first requests find warm workers. A worker that
        stops while loading, or does not report in ``timeout``, is an ``AnalysisWorkerError``."""
        import queue
        import time

        t0 = time.perf_counter()
        executor, _generation = self._current()
        with self._lock:
            ready = self._ready
        remaining = self.workers if wait else 0
        while remaining:
            try:
                ready.get(timeout=0.5)
                remaining -= 1
                continue
            except queue.Empty:
                pass
            if getattr(executor, "_broken", False):
                self._replace(_generation)
                raise AnalysisWorkerError(
                    "an analysis worker stopped while loading the face engine", subject="workers"
                )
            if time.perf_counter() - t0 > timeout:
                raise AnalysisWorkerError(
                    f"{remaining} of {self.workers} analysis workers did not load the face engine "
                    f"in {timeout:.0f} s",
                    subject="workers",
                )
        return time.perf_counter() - t0

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._closed:
                raise AnalysisWorkerError("the analysis pool is shut down", subject="workers")
            if self._executor is None:
                context = multiprocessing.get_context("spawn")
                self._ready = context.Queue()
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=_worker_start,
                    initargs=(self.model_id, self._target is _worker_analyse, self._ready),
                )
                # The executor starts one process per task sent while none is idle: a task each
                # starts them all now, so that a burst after the first photo finds every engine loaded.
                for _ in range(self.workers):
                    self._executor.submit(_started)
            return self._executor, self._generation

    def thread_counts(self) -> dict[str, int]:
        """One worker's runtime thread counts (OpenCV, onnxruntime, each BLAS/OpenMP pool loaded)."""
        executor, _generation = self._current()
        return executor.submit(_thread_counts).result()

    def _replace(self, generation: int) -> None:
        """Drop a broken executor (once, whoever of the waiting threads comes first)."""
        with self._lock:
            if generation != self._generation or self._executor is None:
                return
            broken, self._executor = self._executor, None
            self._generation += 1
            self.restarts += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def submit(self, path: str | Path, name: str = "") -> PoolTask:
        """Start analysing the photo at ``path`` (``name`` is what errors call it)."""
        return PoolTask(self, str(path), name or Path(path).name)

    def analyze(self, path: str | Path, name: str = "") -> Analysed:
        return self.submit(path, name).result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class PoolTask:
    """One photo in the pool; ``result()`` sends it once more if its worker died."""

    def __init__(self, pool: AnalysisPool, path: str, name: str) -> None:
        self.pool, self.path, self.name = pool, path, name
        self._tries = 0
        self._future, self._generation = self._send()

    def _send(self) -> tuple[Future[Analysed], int]:
        self._tries += 1
        executor, generation = self.pool._current()
        try:
            return executor.submit(self.pool._target, self.pool.model_id, self.path, self.name), generation
        except BrokenProcessPool:
            failed: Future[Analysed] = Future()
            failed.set_exception(BrokenProcessPool("broken before the photo was sent"))
            return failed, generation

    def done(self) -> bool:
        """Whether the worker answered (a crash is not an answer: ``result`` sends the photo again)."""
        return self._future.done() and self._future.exception() is None

    def result(self) -> Analysed:
        while True:
            try:
                return self._future.result()
            except BrokenProcessPool:
                self.pool._replace(self._generation)
                if self._tries >= 2:
                    raise AnalysisWorkerError(
                        "the analysis worker stopped while analysing this file (twice); it was not analysed",
                        subject=self.name,
                    ) from None
                self._future, self._generation = self._send()


# -- photos analysed ahead of the transactions that store them --------------------------------------
class Prefetch:
    """Photos sent (``submit``: to the pool, or analysed here) ahead of the loop that stores them,
    at most ``window`` at a time.

    The loop asks for a photo's faces by the hash of what it stored (``take``); photos come back
    in the order given, and one that the loop skipped (refused at ingest) is dropped.
    """

    def __init__(
        self,
        submit: Callable[[Path], PoolTask | Ready],
        paths: Iterable[Path],
        *,
        window: int,
        skip: Callable[[str], bool],
    ) -> None:
        self._submit = submit
        self._todo = deque(paths)
        self._ahead: deque[tuple[str, str, PoolTask | Ready]] = deque()
        self._window = max(1, window)
        self._skip = skip  # True for a hash analysed before: nothing to send
        self._fill()

    def _fill(self) -> None:
        while self._todo and len(self._ahead) < self._window:
            path = self._todo.popleft()
            try:
                sha = _sha256_of(path)
            except OSError:
                continue  # unreadable: the loop reports it with its reason
            if not self._skip(sha):
                self._ahead.append((str(path), sha, self._submit(path)))

    def wait(self, path: str | Path | None = None) -> None:
        """Block until the photo at ``path`` (every photo sent, for None) is analysed.

        Called before the loop opens the transaction that stores it, so that no transaction
        waits for a worker (SQLite has one writer at a time)."""
        for sent, _sha, task in list(self._ahead):
            if path is None or sent == str(path):
                with contextlib.suppress(ImintError):  # raised again, with its file, by ``take``
                    task.result()

    def image_hash(self, path: str | Path) -> tuple[str, ImageHash] | None:
        """The hash of the bytes at ``path`` and the pHash its worker took, once it has answered."""
        for sent, sha, task in self._ahead:
            if sent == str(path) and task.done():
                done = task.result()
                if done.sha256 == sha and done.image_hash is not None:
                    return sha, done.image_hash
        return None

    def take(self, sha256: str) -> Analysed | None:
        """The analysis of the photo whose bytes hash to ``sha256``, or None if it was not sent."""
        if all(sha != sha256 for _path, sha, _task in self._ahead):
            return None
        while True:  # photos before it were skipped by the loop (refused at ingest): dropped
            _path, sha, task = self._ahead.popleft()
            self._fill()
            if sha == sha256:
                done = task.result()
                return done if done.sha256 == sha256 else None  # the file changed after it was hashed


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- one pool per served workspace ------------------------------------------------------------------
_attached: weakref.WeakKeyDictionary[object, dict[str, AnalysisPool]] = weakref.WeakKeyDictionary()
_attached_lock = threading.Lock()


def attach(owner: object, pool: AnalysisPool) -> None:
    """Make ``pool`` the pool of ``owner`` (a workspace's database: shared by its per-user views)."""
    with _attached_lock:
        _attached.setdefault(owner, {})[pool.model_id] = pool


def attached(owner: object, model_id: str) -> AnalysisPool | None:
    with _attached_lock:
        return _attached.get(owner, {}).get(model_id)


def detach(owner: object, model_id: str) -> AnalysisPool | None:
    with _attached_lock:
        return _attached.get(owner, {}).pop(model_id, None)
