"""The collection index on Milvus, for when the workspace's settings name one (``index_uri``).

``find`` and the retro-hunt search the collection index through ``index_search``, which asks it
for each query's nearest faces (``search``), falls back to every face (``ids``) when the list
would cover most of the collection, and re-scores the shortlist exactly from ``vectors_of``.
``MilvusCollectionIndex`` offers the same four (and ``len``, ``in``) on one Milvus collection
per model: Milvus ranks, the database scores. ``vectors_of`` reads the stored vectors from the
database (photo faces' embeddings, video tracks' templates, exactly as ``collection_faces``
gives them), never the copies held in Milvus, so every score and FMR shown is bit for bit the
one the local index and the exact search give.

The database stays the source of truth: ``milvus_collection_index`` brings the collection up to
date before each search (faces stored since are inserted, faces deleted since removed), and a
collection that is missing or of another dimension is rebuilt from the stored vectors. The ids
held are read from Milvus once per process and then kept here; a hit Milvus returns that this
process does not hold (left by another process between its syncs) is dropped from the answer.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imint.errors import ImintError

if TYPE_CHECKING:
    from imint.workspace import Workspace

# Milvus answers at most this many neighbours per query (its default ``topK`` limit). A deeper
# search reports its last column as still above the floor, so ``index_search`` widens to the
# exact scan of every face instead of silently stopping at this depth.
MILVUS_MAX_TOPK = 16_384
INSERT_BATCH = 1_000  # rows per insert request (well under gRPC's message size)
ID_PAGE = 10_000  # ids per page when reading a collection's ids back
COLLECTION_PREFIX = "imint_collection_"


class MilvusUnavailableError(ImintError):
    """The Milvus server of ``index_uri`` could not be reached or refused a request."""

    exit_code = 5
    http_status = 503


def milvus_collection_name(model_id: str) -> str:
    """A Milvus collection name for a model id: letters, digits and ``_`` only, at most 255 characters,
    with a hash of the exact id so two ids that read alike once cleaned (``a-b``, ``a_b``) never share one."""
    slug = "".join(c if c.isascii() and c.isalnum() else "_" for c in model_id)[:160]
    digest = hashlib.sha256(model_id.encode()).hexdigest()[:12]
    return f"{COLLECTION_PREFIX}{slug}_{digest}"


class MilvusCollectionIndex:
    """The usable faces of one model in one Milvus collection; vectors for scoring come from the database.

    ``search`` returns ``(scores, ids)`` of shape ``(n_queries, k)`` in decreasing inner product
    (Milvus's scores, used only to rank and to widen); missing slots hold id -1 and score -inf.
    """

    def __init__(self, ws: Workspace, model_id: str, dim: int, uri: str, *, max_topk: int = MILVUS_MAX_TOPK):
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise MilvusUnavailableError(
                "the Milvus collection index needs `pip install imint[milvus]`", subject="index_uri"
            ) from exc
        self.ws, self.model_id, self.dim, self.uri = ws, model_id, int(dim), uri
        self.collection = milvus_collection_name(model_id)
        self.max_topk = int(max_topk)
        self.builds = 0  # collections this object created (and so filled from every stored vector)
        self._held: set[int] = set()
        self._sorted: np.ndarray | None = None
        with self._milvus("connect to"):
            self._client = MilvusClient(uri)
        with self._milvus("open the collection of"):
            if self._client.has_collection(self.collection) and self._stored_dim() != self.dim:
                self._client.drop_collection(self.collection)  # another model's shape: rebuild below
            if not self._client.has_collection(self.collection):
                self._create()
            else:
                self._held = self._read_ids()

    # -- Milvus ---------------------------------------------------------------------------

    def _milvus(self, doing: str) -> Any:  # noqa: ANN401 - a context manager
        return _MilvusErrors(f"cannot {doing} Milvus", self.uri)

    def _stored_dim(self) -> int:
        for f in self._client.describe_collection(self.collection).get("fields", []):
            if "dim" in (f.get("params") or {}):
                return int(f["params"]["dim"])
        return -1

    def _create(self) -> None:
        # Strong consistency: a find right after an insert or delete sees it.
        self._client.create_collection(
            self.collection, dimension=self.dim, metric_type="IP", auto_id=False, consistency_level="Strong"
        )
        self.builds += 1

    def _read_ids(self) -> set[int]:
        """Every id the collection holds, page by page on the primary key (a query returns at most 16,384)."""
        held: set[int] = set()
        last = -(2**63)
        while True:
            rows = self._client.query(
                self.collection, filter=f"id > {last}", output_fields=["id"], limit=ID_PAGE
            )
            if not rows:
                return held
            page = [int(r["id"]) for r in rows]
            held.update(page)
            last = max(page)

    def close(self) -> None:
        """Drop the client (a milvus-lite server is stopped by ``release_milvus_lite``)."""
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing a client whose server is already gone
            pass

    # -- keeping it in step with the database -----------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64).ravel()
        vectors = np.ascontiguousarray(vectors, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(ids):
            raise ValueError(f"expected {len(ids)} vectors of dim {self.dim}, got {vectors.shape}")
        with self._milvus("write to"):
            for start in range(0, len(ids), INSERT_BATCH):
                rows = [
                    {"id": int(i), "vector": v.tolist()}
                    for i, v in zip(
                        ids[start : start + INSERT_BATCH], vectors[start : start + INSERT_BATCH], strict=True
                    )
                ]
                self._client.upsert(self.collection, rows)  # an id held already is replaced
        self._held.update(ids.tolist())
        self._sorted = None

    def remove(self, ids: np.ndarray | Sequence[int]) -> None:
        gone = [int(i) for i in np.asarray(ids).ravel()]
        with self._milvus("delete from"):
            for start in range(0, len(gone), INSERT_BATCH):
                self._client.delete(self.collection, ids=gone[start : start + INSERT_BATCH])
        self._held.difference_update(gone)
        self._sorted = None

    # -- what index_search reads ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, face_id: int) -> bool:
        return int(face_id) in self._held

    def ids(self) -> np.ndarray:
        if self._sorted is None:
            self._sorted = np.array(sorted(self._held), np.int64)
        return self._sorted

    def vectors_of(self, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """The stored vectors of these faces, from the database, row i for ``ids[i]`` (KeyError for a face
        that is not a usable face of the model)."""
        from imint.faces.collection_faces import collection_faces

        wanted = [int(i) for i in np.asarray(ids).ravel()]
        stored = collection_faces(self.ws, self.model_id, self.dim, only=set(wanted))
        row_of = {int(f): r for r, f in enumerate(stored.face_ids.tolist())}
        return stored.vectors[[row_of[i] for i in wanted]].reshape(len(wanted), self.dim)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        nq, k = len(queries), max(int(k), 0)
        scores = np.full((nq, k), -np.inf, np.float32)
        ids = -np.ones((nq, k), np.int64)
        if k == 0 or not self._held:
            return scores, ids
        limit = min(k, self.max_topk, len(self._held))
        with self._milvus("search"):
            hits = self._client.search(
                self.collection, data=queries.tolist(), limit=limit, output_fields=["id"]
            )
        for qi, row in enumerate(hits):
            for j, hit in enumerate(list(row)[:limit]):
                fid = int(hit["id"])
                scores[qi, j] = float(hit["distance"])
                # A face another process stored in Milvus that this one does not hold: not an answer.
                ids[qi, j] = fid if fid in self._held else -1
            if k > self.max_topk and len(row) >= self.max_topk:
                scores[qi, limit:] = scores[qi, limit - 1]  # deeper than Milvus answers: keep widening
        return scores, ids


class _MilvusErrors:
    """Turns a Milvus client's failure into a ``MilvusUnavailableError`` naming the URI."""

    def __init__(self, doing: str, uri: str) -> None:
        self.doing, self.uri = doing, uri

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> bool:  # noqa: ANN401
        if exc is None or isinstance(exc, ImintError | KeyError | ValueError):
            return False
        from pymilvus.exceptions import MilvusException

        if isinstance(exc, MilvusException | ConnectionError | OSError):
            raise MilvusUnavailableError(f"{self.doing} ({exc})", subject=self.uri) from exc
        return False


# One open index per (Milvus, collection, database) in this process; the caller holds the collection lock.
_OPEN: dict[tuple[str, str, str], MilvusCollectionIndex] = {}
_OPEN_LOCK = threading.RLock()


def milvus_collection_index(ws: Workspace, model_id: str, dim: int) -> MilvusCollectionIndex:
    """The workspace's collection index of ``model_id`` on the Milvus of ``ws.settings.index_uri``, brought
    up to date with the database (the same rules as the local ``collection_index``)."""
    from imint.faces.collection_faces import _usable_face_ids, collection_faces

    uri = ws.settings.index_uri
    key = (uri, milvus_collection_name(model_id), str(getattr(ws.db, "url", ws.path)))
    with _OPEN_LOCK:
        index = _OPEN.get(key)
        if index is not None and index.dim != dim:
            index.close()
            index = None
        if index is None:
            index = MilvusCollectionIndex(ws, model_id, dim, uri)
            _OPEN[key] = index
        with ws.session() as s:
            current = _usable_face_ids(s, model_id)
        held = index.ids()
        gone, new = np.setdiff1d(held, current), np.setdiff1d(current, held)
        if len(gone):
            index.remove(gone)
        if len(new):
            # A new (or rebuilt) collection is filled from every stored vector in one read.
            c = collection_faces(ws, model_id, dim, only=None if not len(held) else set(new.tolist()))
            index.add(c.face_ids, c.vectors)
        return index


def close_milvus_collection_indexes(uri: str | None = None) -> None:
    """Close the open collection indexes (of ``uri``, or all): tests and a server shutting down."""
    with _OPEN_LOCK:
        for key in [k for k in _OPEN if uri is None or k[0] == uri]:
            _OPEN.pop(key).close()


def release_milvus_lite(uri: str) -> None:
    """Close this process's indexes on a milvus-lite file and stop its in-process server (threads, a
    port, and the lock on the data folder), so that another process may open the file."""
    close_milvus_collection_indexes(uri)
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:  # a Milvus server, or no milvus-lite installed: nothing runs here
        return
    server_manager_instance.release_server(uri)
