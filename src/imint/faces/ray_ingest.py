"""``imint ingest --ray ADDRESS``: decode, detect and embed as Ray tasks; the workspace stays here.

The driver (this process) holds the database and the object store. It reads each file, skips
the ones whose SHA-256 this model analysed before, and sends the bytes to a task, so the
cluster's machines need imint installed but not the files. Results are written (in batches,
by ``ingest_pipeline.BatchWriter``) as they come back, in the order they finish.

A task whose worker process or node is lost is sent again (``MAX_RESENDS`` times, counted in
``retries``); a photo that cannot be decoded is not an error of the cluster and comes back as a
bad file like in a local run. Each Ray worker process keeps one engine for every task it runs.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from imint.errors import BadInputError
from imint.faces.ingest_pipeline import PhotoWork, analyse_bytes, limit_threads, sha256_of_bytes

# Sends of one file after its worker was lost, before it is listed as a bad file.
MAX_RESENDS = 3
# Tasks in flight per CPU of the cluster: enough to keep every CPU busy while results travel back.
IN_FLIGHT_PER_CPU = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BadInputError("Ray is not installed (pip install 'imint[ray]')", subject="--ray") from None
    return ray


def _analyse_task(model_id: str, path: str, data: bytes) -> PhotoWork:
    """Runs in a Ray worker process; its engine is loaded by the first task and kept (``get_engine``)."""
    limit_threads()
    return analyse_bytes(model_id, path, data)


class RayWorkers:
    """Photos analysed by Ray tasks on the cluster at ``address`` (``host:port``, ``ray://host:port`` or ``auto``)."""

    def __init__(self, model_id: str, address: str, known: Collection[str]) -> None:
        ray = _ray()
        self.model_id = model_id
        self.known = set(known)
        self.retries = 0
        self._started_here = not ray.is_initialized()
        if self._started_here:
            try:
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BadInputError(f"cannot connect to the Ray cluster ({exc})", subject=address) from None
        # Lost workers are resent here (and counted), not by Ray's own retries, so the report says so.
        self._task = ray.remote(num_cpus=1, max_retries=0)(_analyse_task)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.in_flight = max(2, IN_FLIGHT_PER_CPU * cpus)

    def _submit(self, path: Path, data: bytes) -> Any:
        return self._task.remote(self.model_id, str(path), data)

    def results(self, paths: Sequence[Path]) -> Iterator[PhotoWork]:
        ray = _ray()
        from ray.exceptions import NodeDiedError, ObjectLostError, WorkerCrashedError

        lost_errors = (WorkerCrashedError, NodeDiedError, ObjectLostError)
        todo = iter(paths)
        running: dict[Any, tuple[Path, bytes, int]] = {}

        def fill() -> Iterator[PhotoWork]:
            while len(running) < self.in_flight:
                path = next(todo, None)
                if path is None:
                    return
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    yield PhotoWork(str(path), error=f"cannot read the file ({exc.strerror or exc})")
                    continue
                sha = sha256_of_bytes(data)
                if sha in self.known:
                    yield PhotoWork(str(path), sha256=sha, known=True)
                    continue
                running[self._submit(path, data)] = (path, data, 0)

        yield from fill()
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                path, data, sends = running.pop(ref)
                try:
                    yield ray.get(ref)
                except lost_errors as exc:
                    if sends >= MAX_RESENDS:
                        yield PhotoWork(str(path), error=f"the Ray worker was lost {sends + 1} times ({exc})")
                    else:
                        self.retries += 1
                        time.sleep(0.1 * (sends + 1))  # a crashed node takes a moment to leave the cluster
                        running[self._submit(path, data)] = (path, data, sends + 1)
            yield from fill()

    def close(self) -> None:
        if self._started_here:
            _ray().shutdown()
