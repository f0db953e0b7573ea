"""Approximate search over every usable face of a collection (10^5 - 10^6 faces).

The watchlist index (``imint.store.index.FaissIndex``) is exact and flat: right for
thousands of reference faces, too slow for a million collection faces searched
against each other (clustering asks one k-NN query per face). ``CollectionIndex``
keeps the float vectors itself (row-aligned with the face ids) and a faiss HNSW
graph over 8-bit codes of the same vectors. A search asks the graph for a shortlist
of ``max(k * shortlist_factor, MIN_SHORTLIST)`` rows and re-scores that shortlist by
the exact inner product of the stored vectors, so every score handed back (and so
every calibrated FMR) is the one exact search would give; with 100 re-scored the
codes lose nothing against a float graph (docs/scale.md, engine-shaped vectors).

Why HNSW and not IVF (numbers in docs/scale.md): on engine-shaped vectors at 10^5
faces IVF-Flat reached recall@10 0.76 with 64 of 1,264 lists probed, HNSW 0.97 at
efSearch 256 (a face's top-10 beyond its own photos are near-tied strangers; recall
falls with N). HNSW cannot remove a
vector, so a removed face is a tombstone: filtered out of every search by a faiss
ID selector, and the graph is rebuilt from the stored vectors once a quarter of the
rows are dead. Small collections (below ``exact_below`` faces) use an exact flat
index, fast enough there.

The database stays the source of truth: the saved copy under ``WORKSPACE/index/``
carries a stamp of the ids it holds, and ``load_or_build`` rebuilds from the
stored vectors when it does not match or cannot be read.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from imint.errors import ImintError, ValidationError
from imint.store.index import stamp_of

# faces; below this the index is exact (flat). Raised from 20,000: at 10^5 faces the graph missed 12.5 % of
# find's appearances (docs/scale.md), while one flat query over 250,000 vectors took 100 ms p50 on one
# loaded core (load 12-15) - a price worth paying so that `find` misses nothing below that size.
EXACT_BELOW = 250_000
SHORTLIST_FACTOR = 4  # approximate candidates per result, re-scored exactly
# The graph ranks by 8-bit codes, so a shortlist of at least this many is re-scored from the float vectors:
# with 100, recall@10 equals the float graph's at 10^5 engine-shaped faces (0.968 vs 0.967 at efSearch 256,
# docs/scale.md) for a quarter of its memory; the first round's 40 lost near-tied strangers.
MIN_SHORTLIST = 100
# Graph degree. 48 (was 32): at 10^5 engine-shaped faces, same run, recall@10 0.983 / 0.996 at efSearch
# 256 / 512 against 32's 0.968 / 0.990, at no higher latency (docs/scale.md, fourth round). Saved
# indexes keep the degree they were built with.
HNSW_M = 48
HNSW_EF_CONSTRUCTION = 40  # 200 builds a better graph at ~4x the build time (docs/scale.md)
# efSearch grows with the collection: recall@10 of engine-shaped faces (after the re-score) was 0.995 at
# efSearch 512 over 10^5 faces but 0.923 over 10^6, where 2048 gave 0.993 (docs/scale.md, fifth round).
# Between and beyond those two measured points efSearch follows the power law through them, so
# an index that was not given an efSearch keeps recall@10 ~0.99 as it grows, at a higher latency.
HNSW_EF_SEARCH = 512  # at HNSW_EF_AT_FACES faces
HNSW_EF_AT_FACES = 100_000
HNSW_EF_GROWTH = np.log(2048 / 512) / np.log(1_000_000 / 100_000)  # 0.602
HNSW_EF_SEARCH_MAX = 8192
COMPACT_DEAD_SHARE = 0.25  # rebuild without the removed rows once a quarter are dead
INDEX_DIR_NAME = "collection"  # under WORKSPACE/index/, one folder per embedding model


def ef_search_for(faces: int) -> int:
    """The efSearch a collection of ``faces`` is searched with (see ``HNSW_EF_GROWTH``)."""
    scaled = HNSW_EF_SEARCH * (max(faces, 1) / HNSW_EF_AT_FACES) ** HNSW_EF_GROWTH
    return int(min(HNSW_EF_SEARCH_MAX, max(HNSW_EF_SEARCH, round(scaled))))


def collection_index_dir(index_dir: Path, model_id: str) -> Path:
    """Where a workspace keeps the collection index of one model: ``ws.index_dir / collection-<model>``."""
    slug = "".join(c if c.isalnum() else "-" for c in model_id)
    return Path(index_dir) / f"{INDEX_DIR_NAME}-{slug}"


class IndexDamagedError(ImintError):
    """A saved collection index that cannot be read back (rebuild it from the stored vectors)."""


class CollectionIndex:
    """Face ids -> vectors, with approximate k-NN search re-scored exactly.

    ``search`` returns ``(scores, ids)`` of shape ``(n_queries, k)`` in decreasing
    exact inner product; missing slots hold id -1 and score -inf. Faiss labels are
    row numbers of the stored matrix (rows are only appended, and renumbered by a
    rebuild).
    """

    def __init__(
        self,
        dim: int,
        *,
        ef_search: int | None = None,
        shortlist_factor: int = SHORTLIST_FACTOR,
        exact_below: int = EXACT_BELOW,
    ) -> None:
        import faiss

        self._faiss = faiss
        self.dim = int(dim)
        self.ef_search = None if ef_search is None else int(ef_search)  # None: by size, ef_search_for
        self.shortlist_factor = int(shortlist_factor)
        self.exact_below = int(exact_below)
        self._vectors = np.zeros((0, self.dim), np.float32)  # capacity grows by doubling
        self._ids = np.zeros(0, np.int64)  # face id of each row
        self._alive = np.zeros(0, bool)
        self._n_rows = 0
        self._row_of: dict[int, int] = {}
        self._index = faiss.IndexFlatIP(self.dim)
        self._selector = None  # excludes dead rows while any exist

    # -- building -------------------------------------------------------------------------

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, **kwargs) -> CollectionIndex:  # noqa: ANN003
        if np.ndim(vectors) != 2:
            raise ValidationError("vectors must be a 2-d array (faces x dim)", subject="vectors")
        index = cls(np.shape(vectors)[1], **kwargs)
        index.add(ids, vectors)
        return index

    def _check(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.ascontiguousarray(np.asarray(ids).ravel(), dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValidationError(
                f"expected vectors of dim {self.dim}, got shape {vectors.shape}", subject="vectors"
            )
        if len(ids) != len(vectors):
            raise ValidationError(f"{len(ids)} ids for {len(vectors)} vectors", subject="ids")
        if len(np.unique(ids)) != len(ids):
            raise ValidationError("the same face id twice in one call", subject="ids")
        if not np.isfinite(vectors).all():
            raise ValidationError("vectors hold NaN or infinity", subject="vectors")
        return ids, vectors

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add faces; an id already held is replaced (its old vector removed)."""
        ids, vectors = self._check(ids, vectors)
        if not len(ids):
            return
        self.remove(ids[[int(i) in self._row_of for i in ids]])
        start = self._n_rows
        self._grow(start + len(ids))
        self._vectors[start : start + len(ids)] = vectors
        self._ids[start : start + len(ids)] = ids
        self._alive[start : start + len(ids)] = True
        self._n_rows += len(ids)
        self._row_of.update(zip(ids.tolist(), range(start, start + len(ids)), strict=True))
        if self.approximate or self._n_rows < self.exact_below:
            self._index.add(vectors)  # labels continue at ntotal == start
        else:
            self._rebuild()  # the collection outgrew exact search: build the graph once

    def _grow(self, rows: int) -> None:
        if rows <= len(self._vectors):
            return
        cap = max(rows, 2 * len(self._vectors), 1024)
        for name, fill in (("_vectors", 0.0), ("_ids", -1), ("_alive", False)):
            old = getattr(self, name)
            new = np.full((cap, *old.shape[1:]), fill, dtype=old.dtype)
            new[: self._n_rows] = old[: self._n_rows]
            setattr(self, name, new)

    def _rebuild(self) -> None:
        """Drop dead rows and rebuild the faiss index from the stored vectors."""
        keep = np.flatnonzero(self._alive[: self._n_rows])
        self._vectors = np.ascontiguousarray(self._vectors[keep])
        self._ids = self._ids[keep].copy()
        self._alive = np.ones(len(keep), bool)
        self._n_rows = len(keep)
        self._row_of = dict(zip(self._ids.tolist(), range(len(keep)), strict=True))
        self._selector = None
        faiss = self._faiss
        if self._n_rows < self.exact_below:
            self._index = faiss.IndexFlatIP(self.dim)
        else:
            # 8-bit codes in the graph (256 B a face instead of 1 KB), ranked exactly from the stored
            # floats over a shortlist of at least MIN_SHORTLIST: as good as float codes (docs/scale.md).
            self._index = faiss.IndexHNSWSQ(
                self.dim, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT
            )
            self._index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        if self._n_rows:
            if not self._index.is_trained:  # the 8-bit codes' per-dimension ranges
                self._index.train(self._vectors)
            self._index.add(self._vectors)

    def remove(self, ids: np.ndarray | Sequence[int]) -> None:
        """Remove faces by id (tombstones until a quarter of the rows are dead); unknown ids are ignored."""
        rows = [self._row_of.pop(int(i)) for i in np.asarray(ids).ravel() if int(i) in self._row_of]
        if not rows:
            return
        self._alive[np.asarray(rows, np.int64)] = False
        dead = np.flatnonzero(~self._alive[: self._n_rows])
        if len(dead) > COMPACT_DEAD_SHARE * self._n_rows or not self.approximate:
            self._rebuild()  # a flat index rebuilds in milliseconds; the graph only now and then
        else:
            self._selector = self._faiss.IDSelectorNot(self._faiss.IDSelectorBatch(dead.astype(np.int64)))

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, face_id: int) -> bool:
        return int(face_id) in self._row_of

    def ids(self) -> np.ndarray:
        return np.sort(self._ids[: self._n_rows][self._alive[: self._n_rows]])

    def rows_of(self, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """Stored rows of these face ids (KeyError for an id not held)."""
        return np.array([self._row_of[int(i)] for i in np.asarray(ids).ravel()], np.int64)

    def vectors_of(self, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        return self._vectors[self.rows_of(ids)]

    def row_ids(self, rows: np.ndarray) -> np.ndarray:
        """Face ids of stored rows (-1 stays -1)."""
        rows = np.asarray(rows)
        return np.where(rows >= 0, self._ids[np.where(rows >= 0, rows, 0)], -1)

    @property
    def stored_vectors(self) -> np.ndarray:
        """The row-aligned vector matrix (rows of removed faces are stale until a rebuild)."""
        return self._vectors[: self._n_rows]

    @property
    def approximate(self) -> bool:
        return isinstance(self._index, self._faiss.IndexHNSW)

    @property
    def effective_ef_search(self) -> int:
        """The efSearch a search uses unless it passes one: the one given, else by collection size."""
        return self.ef_search if self.ef_search is not None else ef_search_for(len(self))

    @property
    def kind(self) -> str:
        if not self.approximate:
            return "flat (exact)"
        degree = self._index.hnsw.nb_neighbors(1)  # M of the graph as built (a loaded one may be older)
        return (
            f"hnsw{degree}-sq8 efConstruction={self._index.hnsw.efConstruction} "
            f"efSearch={self.effective_ef_search}{'' if self.ef_search is not None else ' (by size)'}, "
            f"exact re-score of max({self.shortlist_factor}k, {MIN_SHORTLIST})"
        )

    def memory_bytes(self) -> int:
        """Stored vectors, faiss codes and graph, and the id map (an estimate of the resident size)."""
        if self.approximate:
            # 8-bit codes + level-0 links (+ upper levels)
            faiss_bytes = self._n_rows * (self.dim + self._index.hnsw.nb_neighbors(0) * 4 * 1.1)
        else:
            faiss_bytes = self._n_rows * self.dim * 4
        row_map = 100 * len(self)  # a Python dict entry with its two ints
        return int(self._vectors.nbytes + self._ids.nbytes + self._alive.nbytes + faiss_bytes + row_map)

    def search_rows(
        self, queries: np.ndarray, k: int, *, ef_search: int | None = None, shortlist: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like ``search`` but returning stored row numbers (for callers holding row-aligned data)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise ValidationError(
                f"expected queries of dim {self.dim}, got {queries.shape}", subject="queries"
            )
        nq, k = len(queries), max(int(k), 0)
        scores = np.full((nq, k), -np.inf, np.float32)
        rows = -np.ones((nq, k), np.int64)
        if k == 0 or len(self) == 0:
            return scores, rows
        faiss = self._faiss
        if not self.approximate:
            s, r = self._index.search(queries, min(k, self._index.ntotal))
            scores[:, : s.shape[1]] = np.where(r >= 0, s, -np.inf)
            rows[:, : r.shape[1]] = r
            return scores, rows
        short = min(max(k, shortlist or max(k * self.shortlist_factor, MIN_SHORTLIST)), self._n_rows)
        ef = max(int(ef_search or self.effective_ef_search), short)
        params = faiss.SearchParametersHNSW(efSearch=ef)
        if self._selector is not None:
            params.sel = self._selector
        _, cand = self._index.search(queries, short, params=params)
        # Exact re-score of the shortlist from the stored float vectors.
        safe = np.where(cand >= 0, cand, 0)
        exact = np.einsum("qd,qkd->qk", queries, self._vectors[safe], optimize=True)
        exact = np.where(cand >= 0, exact, -np.inf)
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        top_scores = np.take_along_axis(exact, order, axis=1)
        top_rows = np.take_along_axis(cand, order, axis=1)
        top_rows[~np.isfinite(top_scores)] = -1
        scores[:, : order.shape[1]] = top_scores
        rows[:, : order.shape[1]] = top_rows
        return scores, rows

    def search(
        self, queries: np.ndarray, k: int, *, ef_search: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = self.search_rows(queries, k, ef_search=ef_search)
        return scores, self.row_ids(rows)

    # -- persistence ----------------------------------------------------------------------

    def stamp(self) -> str:
        return stamp_of(self.ids())

    def save(self, directory: str | Path) -> None:
        """Write the index to ``directory`` atomically (a new folder renamed over the old one)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        # Names of this writer's own: two processes saving at once each rename a whole folder.
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = directory.with_name(f"{directory.name}.tmp-{tag}")
        tmp.mkdir()
        np.save(tmp / "vectors.npy", self._vectors[: self._n_rows])
        np.save(tmp / "ids.npy", self._ids[: self._n_rows])
        np.save(tmp / "alive.npy", self._alive[: self._n_rows])
        self._faiss.write_index(self._index, str(tmp / "faiss.index"))
        meta = {
            "format": 2,
            "dim": self.dim,
            "rows": self._n_rows,
            "stamp": self.stamp(),
            "ef_search": self.ef_search,
            "shortlist_factor": self.shortlist_factor,
            "exact_below": self.exact_below,
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        old = directory.with_name(f"{directory.name}.old-{tag}")
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: str | Path) -> CollectionIndex:
        """Read a saved index; ``IndexDamagedError`` when its files are missing or disagree."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / "meta.json").read_text())
            obj = cls(
                int(meta["dim"]),
                # Format 1 always held the then default of 512, which now grows with the collection.
                ef_search=None
                if meta["format"] == 1 or meta["ef_search"] is None
                else int(meta["ef_search"]),
                shortlist_factor=int(meta["shortlist_factor"]),
                exact_below=int(meta["exact_below"]),
            )
            vectors = np.load(directory / "vectors.npy")
            ids = np.load(directory / "ids.npy")
            alive = np.load(directory / "alive.npy")
            index = obj._faiss.read_index(str(directory / "faiss.index"))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise IndexDamagedError(f"cannot read the collection index ({exc})", subject=directory) from exc
        rows = len(ids)
        if (
            vectors.shape != (rows, obj.dim)
            or alive.shape != (rows,)
            or index.ntotal != rows
            or int(meta["rows"]) != rows
            or stamp_of(ids[alive]) != meta.get("stamp")
        ):
            raise IndexDamagedError("the collection index files do not agree", subject=directory)
        obj._vectors = np.ascontiguousarray(vectors, np.float32)
        obj._ids = ids.astype(np.int64)
        obj._alive = alive.astype(bool)
        obj._n_rows = rows
        obj._row_of = {int(i): r for r, i in enumerate(obj._ids.tolist()) if obj._alive[r]}
        obj._index = index
        dead = np.flatnonzero(~obj._alive)
        if len(dead):
            obj._selector = obj._faiss.IDSelectorNot(obj._faiss.IDSelectorBatch(dead.astype(np.int64)))
        return obj

    @classmethod
    def load_or_build(
        cls, directory: str | Path, ids: np.ndarray, vectors: np.ndarray, **kwargs
    ) -> CollectionIndex:  # noqa: ANN003
        """The saved index if it holds exactly ``ids``, else one rebuilt from ``vectors`` (and saved)."""
        try:
            index = cls.load(directory)
            if index.stamp() == stamp_of(np.asarray(ids, np.int64)):
                return index
        except IndexDamagedError:
            pass
        index = cls.build(ids, vectors, **kwargs)
        index.save(directory)
        return index
