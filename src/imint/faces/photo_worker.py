"""The worker half of ``imint ingest``: read, hash, decode and analyse one photo; nothing is written.

Kept apart from the writer (``imint.faces.ingest_pipeline``) so that a worker process imports only
what it runs: the engine, decoding and the perceptual hash, not SQLAlchemy and the workspace
(0.7 CPU-s of a worker's start; docs/ingest-throughput.md). A local worker process runs
``worker_start`` once, then ``worker_analyse`` per file; a Ray task runs ``analyse_bytes``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imint.errors import ImintError

if TYPE_CHECKING:
    from imint.media.phash import ImageHash
    from imint.records import Faces

# Variables read by OpenMP / BLAS libraries when they load: one thread per worker, the workers are
# the parallelism (set in the environment the workers are started with, before numpy loads).
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


@dataclass
class PhotoWork:
    """A worker's answer for one file: the hash of the bytes it read and what it found, or why not."""

    path: str
    sha256: str | None = None  # None: the file could not be read
    known: bool = False  # its hash was analysed before this run: nothing computed
    faces: Faces | None = None
    image_hash: ImageHash | None = None
    error: str | None = None  # why it is not a usable photo (the writer's message names the file)
    cpu_seconds: float = 0.0  # CPU time the worker spent on it (decode, engine, hash)


def limit_threads() -> None:
    """One thread for OpenCV and for every BLAS/OpenMP pool loaded by now (numpy's, faiss's, OpenCV's
    OpenBLAS) in this worker; onnxruntime's sessions use one already, and ``ONE_THREAD_ENV`` in the
    environment covers pools loaded later. Both kinds of worker (ingest, server) call this."""
    import cv2

    cv2.setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the environment variables still hold
        return
    threadpool_limits(1)


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def analyse_photo(model_id: str, path: str, known: Collection[str] = frozenset()) -> PhotoWork:
    """Read, hash, decode, detect, assess and embed one photo; nothing is written here.

    A file whose SHA-256 is in ``known`` (analysed before by this model) is only hashed.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return PhotoWork(path, error=f"cannot read the file ({exc.strerror or exc})")
    return analyse_bytes(model_id, path, data, known)


def analyse_bytes(model_id: str, path: str, data: bytes, known: Collection[str] = frozenset()) -> PhotoWork:
    """``analyse_photo`` of bytes already read (a Ray task gets them from the driver, which has the files)."""
    from imint.faces.engine import get_engine
    from imint.media.images import decode_image
    from imint.media.phash import hash_image

    clock = time.process_time()
    work = PhotoWork(path, sha256=sha256_of_bytes(data))
    if work.sha256 in known:
        work.known = True
        return work
    try:
        rgb = decode_image(data, Path(path).name)
        work.faces = get_engine(model_id).analyze(rgb)
        work.image_hash = hash_image(rgb)
    except ImintError as exc:
        work.error = exc.reason
    work.cpu_seconds = time.process_time() - clock
    return work


# -- local worker processes -------------------------------------------------------------------
class KnownHashes:
    """SHA-256 hex digests as one sorted array of raw 32-byte digests: ``sha in known`` by binary search.

    Handed to the workers as a file they read after starting, not as a pickled argument: a spawned
    child reads its start arguments only after importing, so the parent blocked writing the 1.3 MB
    pickle of 20,000 hex strings into the pipe, one worker after the other (7.5 s of the writer's
    wall time at 20,000 photos; docs/ingest-throughput.md).
    """

    def __init__(self, digests: np.ndarray) -> None:
        self.digests = digests  # dtype S32, sorted

    @classmethod
    def of(cls, hexes: Collection[str]) -> KnownHashes:
        raw = np.array([bytes.fromhex(h) for h in hexes], dtype="S32") if hexes else np.zeros(0, "S32")
        return cls(np.sort(raw))

    def __contains__(self, sha256: object) -> bool:
        if not isinstance(sha256, str) or len(sha256) != 64 or not len(self.digests):
            return False
        key = np.array(bytes.fromhex(sha256), dtype="S32")
        i = int(np.searchsorted(self.digests, key))
        return i < len(self.digests) and self.digests[i] == key

    def __len__(self) -> int:
        return len(self.digests)

    def save(self, path: Path) -> None:
        with path.open("wb") as fh:
            np.save(fh, self.digests, allow_pickle=False)

    @classmethod
    def load(cls, path: str) -> KnownHashes:
        return cls(np.load(path, allow_pickle=False))


def network_builders(model_id: str) -> dict[str, Callable[[], bytes]]:
    """The networks of ``model_id`` that are rebuilt at load time (``onnx_sessions.built_model``).

    Built once by the parent of the workers instead of once in each: a worker that reads them
    does not import ``onnx`` (1.3 CPU-s) nor rebuild them (~0.9 CPU-s), about half its start-up
    (docs/ingest-throughput.md).
    """
    from imint.faces import sface_onnx, yunet_onnx

    detector, _, embedder = model_id.partition("/")
    builders: dict[str, Callable[[], bytes]] = {}
    if detector == "yunet-ort":
        builders[yunet_onnx.YUNET_FP32] = yunet_onnx.build_yunet_fp32
    if "sface" in embedder.split("+"):
        builders[sface_onnx.SFACE_MODEL] = sface_onnx.build_sface
        if sface_onnx.FIELD_SFACE_FILE.exists():
            builders[sface_onnx.FIELD_SFACE_MODEL] = sface_onnx.build_field_sface
    return builders


_KNOWN: Collection[str] = frozenset()


def worker_start(model_id: str, known_file: str, network_files: dict[str, str]) -> None:
    """Runs once in each worker process: the engine loaded once (its rebuilt networks read from the
    parent's files), threads limited (the environment it was started with did so for what loads), the
    known hashes read."""
    global _KNOWN
    from imint.faces.worker_lifetime import exit_with_parent

    exit_with_parent()
    from imint.faces.engine import get_engine
    from imint.faces.onnx_sessions import use_prebuilt

    use_prebuilt(network_files)
    get_engine(model_id)
    limit_threads()
    _KNOWN = KnownHashes.load(known_file)


def worker_analyse(model_id: str, path: str) -> PhotoWork:
    return analyse_photo(model_id, path, _KNOWN)
