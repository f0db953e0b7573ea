"""A FaceIndex on Milvus, for when one machine is not enough.

The same interface as ``FaissIndex``. ``uri`` is a Milvus server (``http://host:19530``)
or a local file path, which pymilvus serves with milvus-lite (what the tests use).
The database stays the source of truth: ``sync`` makes the collection hold exactly
the database's vectors.
"""

from __future__ import annotations

import numpy as np


class MilvusIndex:
    def __init__(self, uri: str, collection: str, dim: int) -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError("the Milvus index needs `pip install imint[milvus]`") from exc
        self.dim = dim
        self.collection = collection
        self._client = MilvusClient(uri)
        if not self._client.has_collection(collection):
            self._client.create_collection(collection, dimension=dim, metric_type="IP", auto_id=False)

    def __len__(self) -> int:
        return int(self._client.get_collection_stats(self.collection).get("row_count", 0))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dim {self.dim}, got {vectors.shape}")
        rows = [{"id": int(i), "vector": v.tolist()} for i, v in zip(ids, vectors, strict=True)]
        if rows:
            self._client.upsert(self.collection, rows)

    def remove(self, ids: np.ndarray) -> None:
        ids = [int(i) for i in np.asarray(ids).ravel()]
        if ids:
            self._client.delete(self.collection, ids=ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        scores = np.full((len(queries), k), -np.inf, np.float32)
        ids = -np.ones((len(queries), k), np.int64)
        if k <= 0 or len(self) == 0:
            return scores, ids
        hits = self._client.search(self.collection, data=queries.tolist(), limit=k)
        for qi, row in enumerate(hits):
            for j, hit in enumerate(row[:k]):
                ids[qi, j], scores[qi, j] = int(hit["id"]), float(hit["distance"])
        return scores, ids

    def ids(self) -> np.ndarray:
        rows = self._client.query(self.collection, filter="id >= 0", output_fields=["id"])
        return np.array(sorted(int(r["id"]) for r in rows), np.int64)

    def sync(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Make the collection hold exactly these vectors (the database's)."""
        have = set(self.ids().tolist())
        want = {int(i) for i in ids}
        self.remove(np.array(sorted(have - want), np.int64))
        missing = [k for k, i in enumerate(ids) if int(i) not in have]
        if missing:
            self.add(np.asarray(ids)[missing], np.asarray(vectors)[missing])
