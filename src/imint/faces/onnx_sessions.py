"""onnxruntime settings shared by the face networks (SFace, field SFace, dlib's ResNet, landmark refiner).

One intra-op thread by default: imint's parallelism is worker processes (photo ingest, video
embedding), and a per-call thread pool in each would fight the others over the same cores. A process
that has the machine to itself (one sequential run) may ask for more with ``set_inference_threads``;
the caller passes the count in (from its settings), nothing here reads the environment.

Networks rebuilt from the wheels' files at load time (YuNet and SFace dequantised, SFace's PRelus
rewritten) are made by ``built_model``: in a process told where a parent already saved them
(``use_prebuilt``), they are read from there, so a worker neither imports ``onnx`` (1.3 CPU-s,
most of it ``ml_dtypes``) nor rebuilds them (docs/ingest-throughput.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

_lock = threading.Lock()
_threads = 1
# ``cache_clear`` of every function that holds a session made with ``session_options``.
_session_caches: list[Callable[[], None]] = []
# Serialised networks another process built, by name (``use_prebuilt``).
_prebuilt: dict[str, Path] = {}


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


def built_model(name: str, build: Callable[[], bytes]) -> bytes:
    """The serialised network ``name``: read from the file a parent saved it to, else ``build()``."""
    path = _prebuilt.get(name)
    return path.read_bytes() if path is not None else build()


def save_built_models(builders: Mapping[str, Callable[[], bytes]], folder: Path) -> dict[str, str]:
    """Build each network once here and save it under ``folder``; the map of files is for ``use_prebuilt``."""
    files = {}
    for name, build in builders.items():
        path = folder / f"{name}.onnx"
        path.write_bytes(build())
        files[name] = str(path)
    return files


def use_prebuilt(files: Mapping[str, str]) -> None:
    """Read the networks named in ``files`` from there from now on (sessions made before stay)."""
    _prebuilt.update({name: Path(path) for name, path in files.items()})
