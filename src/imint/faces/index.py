"""The reference index: the enrolled faces 1:N search compares against.

The database is the record; the index is rebuilt from it whenever the set of reference
faces changes (a stamp of their ids tells). Its backend comes from the caller
(``ws.settings.index_uri``): empty for a FAISS file under ``WORKSPACE/index/``, else a Milvus
URI (or a milvus-lite file path).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from imint.faces.tables import FaceRow, ReferencePhoto
from imint.store.index import FaceIndex, FaissIndex, stamp_of

# One build at a time per index file in a process: the server's threads (and its users' views, each
# with its own ReferenceIndex) find a stale index at once after an enrollment, and save through one temp file.
_build_locks: dict[Path, threading.Lock] = {}
_build_locks_guard = threading.Lock()


def _build_lock(path: Path) -> threading.Lock:
    with _build_locks_guard:
        return _build_locks.setdefault(path, threading.Lock())


class ReferenceIndex:
    """The 1:N index of one model's reference faces, loaded from disk or rebuilt from the database."""

    def __init__(
        self,
        session: Callable[[], Any],
        index_dir: Path,
        model_id: str,
        dim: Callable[[], int],
        *,
        uri: str = "",
    ) -> None:
        self._session = session  # the workspace's transaction factory
        self.index_dir = index_dir
        self.model_id = model_id
        self._dim = dim  # asked only when an index is built (it loads the embedder)
        self.uri = uri
        self._index: FaceIndex | None = None
        self._ref_quality: dict[int, float] = {}

    def invalidate(self) -> None:
        """Forget the loaded index (the gallery changed); the next ``get`` rebuilds or reloads it."""
        self._index = None

    def reference_quality(self, face_id: int) -> float:
        """The quality of a reference face (1.0 for one not seen by the last ``get``)."""
        return self._ref_quality.get(face_id, 1.0)

    def _references(self) -> list[Any]:
        with self._session() as s:
            return list(
                s.execute(
                    select(
                        ReferencePhoto.face_id, ReferencePhoto.person_id, FaceRow.embedding, FaceRow.quality
                    )
                    .join(FaceRow, FaceRow.id == ReferencePhoto.face_id)
                    .where(FaceRow.model_id == self.model_id)
                ).all()
            )

    def get(self) -> tuple[FaceIndex, dict[int, int]]:
        """The index and its owners: reference face id -> person id."""
        refs = self._references()
        owner = {int(r.face_id): int(r.person_id) for r in refs}
        self._ref_quality = {int(r.face_id): float(r.quality) for r in refs}
        stamp = stamp_of(np.array(sorted(owner), dtype=np.int64))
        if self._index is not None and getattr(self._index, "stamp", None) == stamp:
            return self._index, owner
        ids = np.array([r.face_id for r in refs], np.int64)
        vecs = (
            np.stack([np.frombuffer(r.embedding, np.float32) for r in refs])
            if refs
            else np.zeros((0, self._dim()), np.float32)
        )
        index = self._build(ids, vecs, stamp)
        index.stamp = stamp  # type: ignore[union-attr]
        self._index = index
        return index, owner

    def _build(self, ids: np.ndarray, vecs: np.ndarray, stamp: str) -> FaceIndex:
        slug = self.model_id.replace("/", "_").replace("+", "-").replace(":", "")
        # The stored vectors give the width: asking the embedder loads a whole engine (2.5 s of CPU in the
        # server, which analyses in its workers and has none), inside the first search after an enrollment.
        dim = int(vecs.shape[1]) if len(ids) else self._dim()
        if self.uri:
            # A distributed index (or milvus-lite when the URI is a file path).
            from imint.store.milvus_index import MilvusIndex

            index = MilvusIndex(self.uri, f"faces_{slug}".replace("-", "_"), dim)
            index.sync(ids, vecs)
            return index
        path = self.index_dir / f"faces-{slug}.faiss"
        with _build_lock(path):
            loaded = FaissIndex.load(path, stamp)
            if loaded is not None:
                return loaded  # built by another thread while this one waited
            fresh = FaissIndex(dim)
            if len(ids):
                fresh.add(ids, vecs)
            fresh.save(path, stamp)
            return fresh

    def vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All reference faces as arrays: face ids, person ids, embeddings (from the database)."""
        with self._session() as s:
            refs = s.execute(
                select(ReferencePhoto.face_id, ReferencePhoto.person_id, FaceRow.embedding)
                .join(FaceRow, FaceRow.id == ReferencePhoto.face_id)
                .where(FaceRow.model_id == self.model_id)
                .order_by(ReferencePhoto.face_id)
            ).all()
        return (
            np.array([r.face_id for r in refs], np.int64),
            np.array([r.person_id for r in refs], np.int64),
            np.stack([np.frombuffer(r.embedding, np.float32) for r in refs])
            if refs
            else np.zeros((0, self._dim()), np.float32),
        )
