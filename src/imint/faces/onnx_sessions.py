"""onnxruntime settings shared by the face networks (SFace, field SFace, dlib's ResNet, landmark refiner).

One intra-op thread by default: imint's parallelism is worker processes (photo ingest, video
embedding), and a per-call thread pool in each would fight the others over the same cores. A process
that has the machine to itself (one sequential run) may ask for more with ``set_inference_threads``;
the caller passes the count in (from its settings), nothing here reads the environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_lock = threading.Lock()
_threads = 1
# ``cache_clear`` of every function that holds a session made with ``session_options``.
_session_caches: list[Callable[[], None]] = []


def inference_threads() -> int:
    """Intra-op threads of the sessions this process makes from now on."""
    return _threads


def register_session_cache(cache_clear: Callable[[], None]) -> None:
    """Let ``set_inference_threads`` drop a cached session, so that it is remade with the new count."""
    _session_caches.append(cache_clear)


def set_inference_threads(threads: int) -> None:
    """Set the thread count of the face networks' sessions in this process; sessions made before
    are dropped and remade on next use."""
    global _threads
    if threads < 1:
        raise ValueError(f"inference threads must be at least 1, got {threads}")
    with _lock:
        if threads == _threads:
            return
        _threads = threads
        for cache_clear in _session_caches:
            cache_clear()


def session_options(threads: int | None = None):  # noqa: ANN201 (onnxruntime.SessionOptions)
    """Options for a face network: ``threads`` (default: the process's count) intra-op, no inter-op pool."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or _threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # notes about rebuilt graphs' initialisers are noise here
    return options
