"""Vector indexes for 1:N search behind one small interface.

``FaceIndex`` is what search code talks to. ``FaissIndex`` (the default) keeps an
exact inner-product index in memory and a copy on disk under ``index/``; it is
always rebuildable from the database, which stays the source of truth. A
distributed implementation (Milvus through pymilvus) implements the same methods.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Protocol

import numpy as np


class FaceIndex(Protocol):
    """Inner-product search over L2-normalised vectors keyed by integer ids."""

    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(scores, ids)``, each ``(n_queries, k)``; missing slots have id -1."""
        ...

    def __len__(self) -> int: ...

    def ids(self) -> np.ndarray: ...


class FaissIndex:
    """Exact (flat) inner-product index.

    Exact search because galleries of persons of interest are small (thousands of
    reference faces, not millions; about 0.3 s per query even at 1 M x 512-d) and
    exact scores keep the calibration honest. An approximate index (HNSW) would go
    behind the same interface for collections far larger than a watchlist.
    """

    def __init__(self, dim: int) -> None:
        import faiss

        self._faiss = faiss
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dim {self.dim}, got {vectors.shape}")
        if len(ids):
            self.remove(ids)  # re-adding an id replaces it instead of duplicating it
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) and len(self):
            self._index.remove_ids(self._faiss.IDSelectorArray(ids))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if len(self) == 0 or k <= 0:
            n = queries.shape[0]
            return np.zeros((n, max(k, 0)), np.float32), -np.ones((n, max(k, 0)), np.int64)
        scores, ids = self._index.search(queries, min(k, len(self)))
        if ids.shape[1] < k:  # pad so callers always get k columns
            pad = k - ids.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        return scores, ids

    def ids(self) -> np.ndarray:
        if len(self) == 0:
            return np.zeros((0,), np.int64)
        return self._faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def save(self, path: Path, stamp: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        self._faiss.write_index(self._index, str(tmp))
        tmp.replace(path)
        path.with_suffix(".json").write_text(json.dumps({"stamp": stamp, "dim": self.dim, "n": len(self)}))

    @classmethod
    def load(cls, path: Path, stamp: str) -> FaissIndex | None:
        """Load a saved index if it matches ``stamp`` (the database state), else None."""
        meta_path = path.with_suffix(".json")
        if not path.exists() or not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("stamp") != stamp:
                return None
            obj = cls(int(meta["dim"]))
            obj._index = obj._faiss.read_index(str(path))
            return obj
        except Exception:  # noqa: BLE001 - a damaged index file is rebuilt from the database
            return None


def stamp_of(ids: np.ndarray) -> str:
    """A fingerprint of which vectors an index should hold."""
    return hashlib.sha256(np.sort(np.asarray(ids, dtype=np.int64)).tobytes()).hexdigest()[:16]
