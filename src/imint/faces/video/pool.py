"""Worker processes computing fused embeddings while the main process decodes, detects and tracks."""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ProcessPoolExecutor

import cv2
import numpy as np

from imint.faces.engine import get_engine
from imint.records import Faces

# Fused embeddings run in worker processes where there is a core to spare.
DEFAULT_EMBED_WORKERS = 1 if (os.cpu_count() or 1) >= 2 else 0


def _worker_start(model_id: str) -> None:
    # One OpenCV thread per worker: the main process's detector uses the others.
    cv2.setNumThreads(1)
    get_engine(model_id)


def _worker_embed(model_id: str, crop: np.ndarray, faces: Faces) -> tuple[np.ndarray, float]:
    """One fused embedding, and the CPU seconds it took (the caller's stats count the workers' CPU)."""
    cpu = time.process_time()
    embedding = get_engine(model_id).embed(crop, faces).embeddings[0]
    return embedding, time.process_time() - cpu


class EmbeddingPool:
    """A pool of processes computing fused embeddings of face crops.

    dlib's descriptor, most of a fused embedding's cost, holds Python's GIL, so threads cannot
    overlap it with detection; processes can. Workers are started once per process and model
    (``embedding_pool``) and load the models themselves (spawned, so no thread state is forked).
    """

    def __init__(self, model_id: str, workers: int) -> None:
        import multiprocessing

        self.model_id = model_id
        self.workers = workers
        self.broken = False
        self.executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(model_id,),
        )

    def submit(self, crop: np.ndarray, faces: Faces) -> Future | None:
        """A future of ``(embedding, cpu_seconds)``; None when the pool is broken (embed here)."""
        if self.broken:
            return None
        try:
            return self.executor.submit(_worker_embed, self.model_id, crop, faces)
        except RuntimeError:  # BrokenProcessPool, or shut down: the caller embeds in-process
            self.broken = True
            return None

    def warm_up(self) -> None:
        """Block until every worker has loaded its models (benchmarks time the analysis only)."""
        for future in [self.executor.submit(_worker_start, self.model_id) for _ in range(self.workers)]:
            future.result()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


# Started once per process, model and size: starting workers and loading their models takes seconds.
_POOLS: dict[tuple[str, int], EmbeddingPool] = {}


def embedding_pool(model_id: str, workers: int) -> EmbeddingPool | None:
    """The process's pool of ``workers`` embedding workers for ``model_id`` (None for 0 workers)."""
    if workers <= 0:
        return None
    pool = _POOLS.get((model_id, workers))
    if pool is None or pool.broken:
        if pool is not None:
            pool.shutdown()
        pool = _POOLS[(model_id, workers)] = EmbeddingPool(model_id, workers)
    return pool
