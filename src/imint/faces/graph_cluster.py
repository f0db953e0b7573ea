"""Calibrated average-linkage clustering on a k-nearest-neighbour graph, for collections.

``imint.faces.cluster.cluster_embeddings`` builds the dense N x N matrix of
``log10 FMR`` distances and runs scipy's average linkage: exact, but N^2 memory
(30,000 faces is 7 GB). This module gives the same clustering without the matrix:

- Candidates. Average linkage joins two clusters only when the mean distance of
  all their cross pairs is below the cut, which needs at least one cross pair below
  the cut. So only cluster pairs joined by a below-cut pair can ever merge, and those
  pairs are (nearly all) among each face's k nearest neighbours: ``knn_edges`` (exact
  for small sets, an inverted file searched in batches for collections; every edge is
  re-scored exactly and kept only below the calibrated cut). ``update_clusters`` asks
  the ``CollectionIndex`` for the new faces' neighbours only.
- Exact averages. Every candidate's mean distance is exact over all its cross pairs:
  kept up to date with the Lance-Williams update ``d(A+B, C) = (|A| d(A,C) +
  |B| d(B,C)) / (|A| + |B|)`` and, where one of the two terms was never a candidate,
  computed from the stored vectors then. Candidates whose mean is not below the cut
  are dropped (they come back, exactly computed, if a later merge brings them
  near). Merging the closest candidate first, this reproduces scipy's average
  linkage cut at the same FMR whenever the graph holds every below-cut pair.
- Constraints. As in the dense code, the clusters of two must-linked faces are
  joined after the clustering (a person's merge joins whole clusters). A cluster pair
  holding a cannot-linked pair is never merged (the dense code penalises such pairs
  and splits afterwards; the graph version never joins them).
- Incremental. ``update_clusters`` starts from the current clusters (with the
  people's merges and splits already in them) as fixed groups, adds the new faces
  as singletons and only looks at the new faces' neighbours: old clusters never
  split, new faces join them or each other at the same calibrated cut.

Distances are those of ``imint.faces.cluster_dense.fmr_distances``: ``log10 FMR`` of the
exact inner product at the two faces' quality bins, shifted by +12 to be >= 0.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from imint.errors import ValidationError
from imint.faces.calibration import Calibration
from imint.faces.cluster_dense import DEFAULT_CLUSTER_FMR, average_linkage_labels
from imint.faces.collection_index import CollectionIndex
from imint.faces.quality import QUALITY_BIN_EDGES, QUALITY_BINS

DEFAULT_NEIGHBOURS = 20  # k of the k-NN graph; docs/scale.md has the measurement behind it
_SHIFT = 12.0  # log10 FMR >= -12: shifted distances are >= 0, as in faces/cluster.py
_KNN_EF_SEARCH = 64  # update_clusters: the new faces' neighbours through the collection index
# The full clustering's k-NN graph (``knn_edges``): exact below KNN_EXACT_BELOW faces, else each face's
# k nearest among the faces of its KNN_NPROBE nearest k-means cells (an inverted-file search). One HNSW
# query per face at 10^6 was ~30 CPU-min, and faiss's inverted-file scan ~150 ns a pair here; computed
# cell by cell (the faces probing a cell against its members), it is one matrix product per cell (BLAS,
# ~20 G multiply-adds/s a core). Measured in docs/scale.md.
KNN_EXACT_BELOW = 20_000
KNN_NPROBE = 8  # cells scanned per face: 8 / sqrt(N) of the collection (0.8 % at 10^6)
_KNN_TRAIN_PER_CELL = 40  # k-means points per cell (faiss warns below 39)
_KNN_TRAIN_ITERATIONS = 10
_KNN_BLOCK = 1 << 23  # scores computed at once (32 MB of float32)
_PAIR_CHUNK = 65536  # pairs scored at once: 128 MB of gathered vectors
_QUERY_BATCH = 1024  # queries per k-NN call: bounds the shortlist re-score to ~90 MB


class PairDistances:
    """Shifted ``log10 FMR`` between stored faces, calibrated at each pair's quality bins."""

    def __init__(self, vectors: np.ndarray, quality: np.ndarray, calibration: Calibration) -> None:
        self.vectors = vectors
        self.bins = np.digitize(np.asarray(quality, np.float64), QUALITY_BIN_EDGES).astype(np.int8)
        # A quality inside each bin selects that bin's table, as Calibration.table does.
        centre = dict(zip(QUALITY_BINS, (0.2, 0.5, 0.8), strict=True))
        self._tables = {}
        for a, name_a in enumerate(QUALITY_BINS):
            for b, name_b in enumerate(QUALITY_BINS):
                table = calibration.table(centre[name_a], centre[name_b])
                self._tables[a * 3 + b] = (table.score, table.log10_fmr)

    def subset(self, rows: np.ndarray) -> PairDistances:
        """The same distances between ``rows`` only (row i of the subset is ``rows[i]``)."""
        sub = PairDistances.__new__(PairDistances)
        sub.vectors, sub.bins, sub._tables = self.vectors[rows], self.bins[rows], self._tables
        return sub

    def score_floor(self, cut: float) -> float:
        """A score below which no pair is below the (shifted) cut at any quality bins."""
        floors = []
        for score, log10_fmr in self._tables.values():
            below = np.flatnonzero(np.asarray(log10_fmr) + _SHIFT < cut)
            if not len(below):
                continue  # no score is below the cut at these bins
            if below[0] == 0:
                return -np.inf  # scores under the table's first point are below the cut
            floors.append(float(np.asarray(score)[below[0] - 1]))  # interpolation is linear between points
        return min(floors, default=np.inf)

    def from_scores(self, scores: np.ndarray, codes: np.ndarray) -> np.ndarray:
        out = np.empty(scores.shape, np.float64)
        for code in np.unique(codes):
            mask = codes == code
            xp, fp = self._tables[int(code)]
            out[mask] = np.interp(scores[mask], xp, fp)
        return out + _SHIFT

    def pairs(self, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
        # In chunks: gathering both sides of every k-NN edge at once was 2 KB a pair (4.1 GB peak
        # at 100,000 faces, docs/scale.md).
        scores = np.empty(len(rows_a), np.float32)
        for start in range(0, len(rows_a), _PAIR_CHUNK):
            a, b = rows_a[start : start + _PAIR_CHUNK], rows_b[start : start + _PAIR_CHUNK]
            scores[start : start + len(a)] = np.einsum("nd,nd->n", self.vectors[a], self.vectors[b])
        return self.from_scores(scores, self.bins[rows_a] * 3 + self.bins[rows_b])

    def block(self, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
        scores = self.vectors[rows_a] @ self.vectors[rows_b].T
        return self.from_scores(scores, self.bins[rows_a][:, None] * 3 + self.bins[rows_b][None, :])


def knn_graph(
    index: CollectionIndex, rows: np.ndarray, k: int, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(a, b)`` (index rows, a != b) from each of ``rows`` to its k nearest neighbours."""
    src, dst = [], []
    for start in range(0, len(rows), _QUERY_BATCH):
        batch = rows[start : start + _QUERY_BATCH]
        # The graph needs each face's strongest pairs, not an exact top-k: a lighter search
        # than ``find``'s (measured in docs/scale.md).
        # 2 (k + 1) ranked by the graph's 8-bit codes, then exactly: the k + 1 nearest survive the codes.
        _, hits = index.search_rows(vectors[batch], k + 1, ef_search=_KNN_EF_SEARCH, shortlist=2 * (k + 1))
        a = np.repeat(batch, hits.shape[1])
        b = hits.ravel()
        keep = (b >= 0) & (b != a)
        src.append(a[keep])
        dst.append(b[keep])
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(src), np.concatenate(dst)


def knn_edges(
    vectors: np.ndarray,
    k: int,
    *,
    floor: float = -np.inf,
    nprobe: int = KNN_NPROBE,
    exact_below: int = KNN_EXACT_BELOW,
) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(a, b)`` (rows, a != b) from every row to those of its k nearest rows (by inner
    product) that score above ``floor``. Exact below ``exact_below`` rows; above, a row's candidates
    are the rows of its ``nprobe`` nearest k-means cells (sqrt(N) cells)."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    n = len(vectors)
    kk = min(int(k) + 1, n)  # + 1: a row finds itself (its own cell is always scanned), dropped below
    best = _TopK(n, kk)
    if n < exact_below:
        everyone = np.arange(n)
        best.scan(vectors, everyone, everyone)
    else:
        probes = _probes(vectors, nprobe)
        members = _groups(probes[:, 0], probes.max() + 1)
        probing = _groups(probes.ravel(), probes.max() + 1)
        for cell, rows in enumerate(members):
            if len(rows):
                best.scan(vectors, probing[cell] // probes.shape[1], rows)
    a = np.repeat(np.arange(n), kk)
    b, s = best.rows.ravel(), best.scores.ravel()
    keep = (b >= 0) & (b != a) & (s > floor)
    return a[keep], b[keep]


def _groups(labels: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Positions of each label 0..n_groups-1, ascending."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_groups + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in range(n_groups)]


def _probes(vectors: np.ndarray, nprobe: int) -> np.ndarray:
    """Each row's ``nprobe`` nearest k-means cells, nearest first (sqrt(N) cells, trained on a sample)."""
    import faiss

    n, dim = vectors.shape
    n_cells = max(1, int(np.sqrt(n)))
    sample = np.random.default_rng(0).choice(n, min(n, _KNN_TRAIN_PER_CELL * n_cells), replace=False)
    kmeans = faiss.Kmeans(dim, n_cells, niter=_KNN_TRAIN_ITERATIONS, seed=1234, spherical=True)
    kmeans.train(vectors[np.sort(sample)])
    p = min(int(nprobe), n_cells)
    probes = np.empty((n, p), np.int64)
    for start in range(0, n, 65536):
        probes[start : start + 65536] = kmeans.index.search(vectors[start : start + 65536], p)[1]
    return probes


class _TopK:
    """Each row's k best (score, row) seen so far, merged block by block."""

    def __init__(self, n: int, k: int) -> None:
        self.k = k
        self.scores = np.full((n, k), -np.inf, np.float32)
        self.rows = -np.ones((n, k), np.int64)

    def scan(self, vectors: np.ndarray, queries: np.ndarray, cands: np.ndarray) -> None:
        """Offer every (query, candidate) pair: exact inner products, one matrix product a block."""
        cand_vectors = vectors[cands]
        step = max(1, _KNN_BLOCK // len(cands))
        for start in range(0, len(queries), step):
            q = queries[start : start + step]
            scores = vectors[q] @ cand_vectors.T
            if scores.shape[1] > self.k:
                top = np.argpartition(-scores, self.k - 1, axis=1)[:, : self.k]
                scores, found = np.take_along_axis(scores, top, axis=1), cands[top]
            else:
                found = np.broadcast_to(cands, scores.shape)
            both_scores = np.concatenate([self.scores[q], scores], axis=1)
            both_rows = np.concatenate([self.rows[q], found], axis=1)
            keep = np.argpartition(-both_scores, self.k - 1, axis=1)[:, : self.k]
            self.scores[q] = np.take_along_axis(both_scores, keep, axis=1)
            self.rows[q] = np.take_along_axis(both_rows, keep, axis=1)


def _check_inputs(embeddings: np.ndarray, quality: np.ndarray, fmr: float) -> tuple[np.ndarray, np.ndarray]:
    emb = np.ascontiguousarray(embeddings, np.float32)
    q = np.asarray(quality, np.float64)
    if emb.ndim != 2 or len(q) != len(emb):
        raise ValidationError(f"{len(q)} qualities for embeddings of shape {emb.shape}", subject="quality")
    if not 0 < fmr < 1:
        raise ValidationError("the clustering FMR must be between 0 and 1", subject="fmr")
    return emb, q


def cluster_embeddings(
    embeddings: np.ndarray,
    quality: np.ndarray,
    calibration: Calibration,
    *,
    fmr: float = DEFAULT_CLUSTER_FMR,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
    neighbours: int = DEFAULT_NEIGHBOURS,
    nprobe: int = KNN_NPROBE,
    stats: dict | None = None,
) -> np.ndarray:
    """Cluster labels (0..k-1) for row-aligned embeddings; constraints are row pairs.

    Same signature and meaning as ``imint.faces.cluster.cluster_embeddings``; the k-NN graph is
    ``knn_edges`` (``nprobe`` cells scanned per face above ``KNN_EXACT_BELOW`` faces). ``stats``, if
    given, receives the wall and CPU seconds of the two steps and the edge counts."""
    emb, q = _check_inputs(embeddings, quality, fmr)
    n = len(emb)
    if n <= 1:
        return np.zeros(n, np.int64)
    clock = _Clock()
    cut = float(np.log10(fmr)) + _SHIFT
    dist = PairDistances(emb, q, calibration)
    a, b = knn_edges(emb, neighbours, floor=dist.score_floor(cut), nprobe=nprobe)
    pairs = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    del a, b
    lo, hi = pairs // n, pairs % n
    del pairs
    # Every edge re-scored exactly from the vectors; only below-cut ones are kept.
    d = dist.pairs(lo, hi)
    below = d < cut
    knn_s = clock.lap()
    must, cannot = (
        _constraint_pairs(must_link, n, "must_link"),
        _constraint_pairs(cannot_link, n, "cannot_link"),
    )
    labels = _ComponentLinkage(dist, cut, lo[below], hi[below], d[below], must, cannot).run(n)
    if stats is not None:
        wall, cpu = clock.lap()
        stats.update(
            knn_wall_s=round(knn_s[0], 1),
            knn_cpu_s=round(knn_s[1], 1),
            linkage_wall_s=round(wall, 1),
            linkage_cpu_s=round(cpu, 1),
            knn_edges=int(len(lo)),
            below_cut_edges=int(below.sum()),
            knn="exact" if n < KNN_EXACT_BELOW else f"{int(np.sqrt(n))} k-means cells, {nprobe} scanned",
        )
    return labels


class _Clock:
    """Wall and CPU seconds since the last lap."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def update_clusters(
    labels: np.ndarray,
    embeddings: np.ndarray,
    quality: np.ndarray,
    calibration: Calibration,
    *,
    fmr: float = DEFAULT_CLUSTER_FMR,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
    neighbours: int = DEFAULT_NEIGHBOURS,
    index: CollectionIndex | None = None,
) -> np.ndarray:
    """Add new faces to an existing clustering.

    ``labels`` holds the current cluster of every row (after people's merges and
    splits), -1 for the new rows. Old clusters are kept whole (never split); new faces
    join them, or each other, at the calibrated cut. Returns labels 0..k-1 for all rows.
    """
    emb, q = _check_inputs(embeddings, quality, fmr)
    labels = np.asarray(labels, np.int64)
    if len(labels) != len(emb):
        raise ValidationError(f"{len(labels)} labels for {len(emb)} embeddings", subject="labels")
    new = np.flatnonzero(labels < 0)
    groups = labels.copy()
    _, groups[labels >= 0] = np.unique(labels[labels >= 0], return_inverse=True)
    start = int(groups.max()) + 1 if (labels >= 0).any() else 0
    groups[new] = start + np.arange(len(new))
    if len(new) == 0:
        return _relabel(groups)
    return _cluster(emb, q, calibration, groups, new, fmr, must_link, cannot_link, neighbours, index)


def _relabel(groups: np.ndarray) -> np.ndarray:
    _, labels = np.unique(groups, return_inverse=True)
    return labels.astype(np.int64)


def _cluster(
    emb: np.ndarray,
    quality: np.ndarray,
    calibration: Calibration,
    groups: np.ndarray,
    active: np.ndarray,
    fmr: float,
    must_link: Iterable[tuple[int, int]],
    cannot_link: Iterable[tuple[int, int]],
    neighbours: int,
    index: CollectionIndex | None,
) -> np.ndarray:
    n = len(emb)
    cut = float(np.log10(fmr)) + _SHIFT
    must_link = list(must_link)
    index = _row_index(index, emb)
    dist = PairDistances(emb, quality, calibration)
    # Map index rows (which may be ordered differently after removals) to our rows via ids.
    a, b = knn_graph(index, _index_rows(index, active), neighbours, index.stored_vectors)
    a, b = index.row_ids(a), index.row_ids(b)
    hac = _GraphAverageLinkage(dist, groups, cut, _cannot_pairs(cannot_link, n))
    hac.seed(a, b)
    hac.run()
    # As in faces/cluster.py, a person's merge joins the whole clusters of the two faces.
    return _relabel(_join_must_links(hac.labels(), must_link, n))


def _row_index(index: CollectionIndex | None, emb: np.ndarray) -> CollectionIndex:
    """The given index of rows 0..n-1 (checked), or one built over ``emb``."""
    n = len(emb)
    if index is None:
        return CollectionIndex.build(np.arange(n), emb)
    if len(index) != n or not np.array_equal(index.ids(), np.arange(n)):
        raise ValidationError("the index must hold exactly the rows 0..n-1", subject="index")
    return index


def _constraint_pairs(pairs: Iterable[tuple[int, int]], n: int, name: str) -> np.ndarray:
    out = np.array([(int(i), int(j)) for i, j in pairs], np.int64).reshape(-1, 2)
    if len(out) and (out.min() < 0 or out.max() >= n):
        bad = out[(out.min(axis=1) < 0) | (out.max(axis=1) >= n)][0]
        raise ValidationError(f"{name} ({bad[0]}, {bad[1]}) names a row outside 0..{n - 1}", subject=name)
    return out


def _index_rows(index: CollectionIndex, ids: np.ndarray) -> np.ndarray:
    return index.rows_of(ids)


def _join_must_links(groups: np.ndarray, must_link: list[tuple[int, int]], n: int) -> np.ndarray:
    """Union the groups of must-linked rows (union-find over group ids)."""
    if not must_link:
        return groups
    parent = {int(g): int(g) for g in np.unique(groups)}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in must_link:
        if not (0 <= i < n and 0 <= j < n):
            raise ValidationError(f"must-link ({i}, {j}) names a row outside 0..{n - 1}", subject="must_link")
        ri, rj = find(int(groups[i])), find(int(groups[j]))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(int(g)) for g in groups], np.int64)


def _cannot_pairs(cannot_link: Iterable[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    out = []
    for i, j in cannot_link:
        if not (0 <= i < n and 0 <= j < n):
            raise ValidationError(
                f"cannot-link ({i}, {j}) names a row outside 0..{n - 1}", subject="cannot_link"
            )
        out.append((int(i), int(j)))
    return out


class _GraphAverageLinkage:
    """Greedy average linkage over candidate cluster pairs with exact mean distances."""

    def __init__(
        self, dist: PairDistances, groups: np.ndarray, cut: float, cannot: list[tuple[int, int]]
    ) -> None:
        self.dist = dist
        self.cut = cut
        _, groups = np.unique(groups, return_inverse=True)
        self.group_of = groups.astype(np.int64)
        order = np.argsort(self.group_of, kind="stable")
        bounds = np.searchsorted(self.group_of[order], np.arange(self.group_of.max() + 2))
        self.members: list[np.ndarray | list[int]] = [
            order[bounds[g] : bounds[g + 1]] for g in range(len(bounds) - 1)
        ]
        self.size = np.diff(bounds).astype(np.int64)
        self.alive = np.ones(len(self.members), bool)
        self.nbr: list[dict[int, float]] = [{} for _ in self.members]
        self.forbid: list[set[int]] = [set() for _ in self.members]
        for i, j in cannot:
            gi, gj = int(self.group_of[i]), int(self.group_of[j])
            if gi != gj:  # a cannot-link inside a fixed old cluster: the current clusters win
                self.forbid[gi].add(gj)
                self.forbid[gj].add(gi)
        self.heap: list[tuple[float, int, int]] = []

    def exact(self, ga: int, gb: int) -> float:
        if gb in self.forbid[ga]:
            return np.inf
        return float(self.dist.block(np.asarray(self.members[ga]), np.asarray(self.members[gb])).mean())

    def seed(self, a: np.ndarray, b: np.ndarray) -> None:
        """Candidate cluster pairs from face edges: those with an exact mean below the cut."""
        ga, gb = self.group_of[a], self.group_of[b]
        cross = ga != gb
        a, b, ga, gb = a[cross], b[cross], ga[cross], gb[cross]
        lo, hi = np.minimum(ga, gb), np.maximum(ga, gb)
        # Only pairs of clusters joined by at least one below-cut pair can merge.
        d = self.dist.pairs(a, b)
        below = d < self.cut
        pairs = np.unique(np.stack([lo[below], hi[below]], axis=1), axis=0)
        if not len(pairs):
            return
        single = (self.size[pairs[:, 0]] == 1) & (self.size[pairs[:, 1]] == 1)
        means = np.empty(len(pairs))
        if single.any():
            ra = np.array([self.members[g][0] for g in pairs[single, 0]], np.int64)
            rb = np.array([self.members[g][0] for g in pairs[single, 1]], np.int64)
            means[single] = self.dist.pairs(ra, rb)
        for k in np.flatnonzero(~single):
            means[k] = self.exact(int(pairs[k, 0]), int(pairs[k, 1]))
        for (g, h), m in zip(pairs.tolist(), means.tolist(), strict=True):
            if h in self.forbid[g] or m >= self.cut:
                continue
            self.nbr[g][h] = m
            self.nbr[h][g] = m
            self.heap.append((m, g, h))
        heapq.heapify(self.heap)

    def run(self) -> None:
        heap, nbr, cut = self.heap, self.nbr, self.cut
        while heap:
            d, a, b = heapq.heappop(heap)
            if d >= cut:
                break
            if not (self.alive[a] and self.alive[b]) or nbr[a].get(b) != d:
                continue  # stale entry
            if self.size[a] < self.size[b]:
                a, b = b, a
            self._merge(a, b)

    def _merge(self, a: int, b: int) -> None:
        nbr, cut = self.nbr, self.cut
        na, nb = nbr[a], nbr[b]
        na.pop(b, None)
        nb.pop(a, None)
        forbid = self.forbid[a] | self.forbid[b]
        for c in self.forbid[b]:
            self.forbid[c].discard(b)
            self.forbid[c].add(a)
        self.forbid[a], self.forbid[b] = forbid, set()
        sa, sb = int(self.size[a]), int(self.size[b])
        merged: dict[int, float] = {}
        for c in set(na) | set(nb):
            nbr[c].pop(a, None)
            nbr[c].pop(b, None)
            if c in forbid:
                continue
            dac = na.get(c)
            dbc = nb.get(c)
            if dac is None:
                dac = self.exact(a, c)
            if dbc is None:
                dbc = self.exact(b, c)
            m = (sa * dac + sb * dbc) / (sa + sb)
            if m < cut:
                merged[c] = m
                nbr[c][a] = m
                heapq.heappush(self.heap, (m, min(a, c), max(a, c)))
        nbr[a], nbr[b] = merged, {}
        self.members[a] = np.concatenate([np.asarray(self.members[a]), np.asarray(self.members[b])])
        self.members[b] = []
        self.size[a] = sa + sb
        self.size[b] = 0
        self.alive[b] = False

    def labels(self) -> np.ndarray:
        out = np.empty(len(self.group_of), np.int64)
        for g in np.flatnonzero(self.alive):
            out[np.asarray(self.members[g], np.int64)] = g
        return out


COMPONENT_DENSE_UP_TO = 2_000  # faces; a component this small is clustered by exact dense linkage (32 MB)
_MUTUAL_RANKS = (10, 5, 3, 2, 1)  # last splitting rule: edges among both ends' m strongest


class _ComponentLinkage:
    """Average linkage inside the connected components of the below-cut k-NN graph.

    Average linkage never joins two clusters without a below-cut pair between them, so its
    clusters lie inside the connected components of the below-cut graph, and run on one component
    alone it gives that component's clusters unchanged. Each component of at most
    ``COMPONENT_DENSE_UP_TO`` faces is clustered by the exact dense average linkage of
    ``cluster_dense`` (constraints as there); components of 1 or 2 faces need no linkage. A larger
    component (a collection at a loose cut percolates) is first split along its weaker edges: one
    decade of FMR stricter at a time, then, at the calibration's floor, keeping only edges among
    both ends' m strongest. That split is the one approximation: each piece is clustered on its
    own, so pieces that average linkage would have joined through weaker edges stay apart. A cannot-linked pair is never an
    edge (and apart in the dense linkage); must-links join whole clusters afterwards, as before.
    """

    def __init__(
        self,
        dist: PairDistances,
        cut: float,
        lo: np.ndarray,
        hi: np.ndarray,
        d: np.ndarray,
        must: np.ndarray,
        cannot: np.ndarray,
    ) -> None:
        self.dist, self.cut = dist, cut
        n = len(dist.vectors)
        if len(cannot):
            banned = np.isin(lo * n + hi, cannot.min(axis=1) * n + cannot.max(axis=1))
            lo, hi, d = lo[~banned], hi[~banned], d[~banned]
        keep = lo != hi
        self.lo, self.hi, self.d = lo[keep], hi[keep], d[keep]
        self.must, self.cannot = must, cannot
        self.constrained = np.zeros(n, bool)
        self.constrained[cannot.ravel()] = True
        floor = float(self.d.min()) if len(self.d) else cut
        self.thresholds = [cut - i for i in range(0, 64) if i == 0 or cut - i > floor]
        self.local = -np.ones(n, np.int64)
        self.labels = -np.ones(n, np.int64)
        self.next_label = 0

    def run(self, n: int) -> np.ndarray:
        stack = [(np.arange(n), np.arange(len(self.lo)), 0)]
        while stack:
            nodes, edges, level = stack.pop()
            edges = self._kept(edges, level)
            self.local[nodes] = np.arange(len(nodes))
            graph = csr_matrix(
                (np.ones(len(edges), np.int8), (self.local[self.lo[edges]], self.local[self.hi[edges]])),
                shape=(len(nodes), len(nodes)),
            )
            n_comp, comp = connected_components(graph, directed=False)
            self.local[nodes] = -1
            sizes = np.bincount(comp, minlength=n_comp)
            small = sizes[comp] <= 2  # one face, or two joined by a below-cut edge: one cluster each
            _, first = np.unique(comp[small], return_inverse=True)
            self.labels[nodes[small]] = self.next_label + first
            self.next_label += int(first.max()) + 1 if len(first) else 0
            order = np.argsort(comp, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(sizes)])
            edge_comp = None
            for c in np.flatnonzero(sizes > 2):
                members = nodes[order[bounds[c] : bounds[c + 1]]]
                if len(members) <= COMPONENT_DENSE_UP_TO:
                    self._dense(members)
                    continue
                if edge_comp is None:
                    self.local[nodes] = comp
                    edge_comp = self.local[self.lo[edges]]
                    self.local[nodes] = -1
                # The last rule keeps a matching (each face's one strongest edge, if mutual),
                # so every component below it has at most two faces: this ends.
                stack.append((members, edges[edge_comp == c], level + 1))
        # As in the dense code, a person's merge joins the whole clusters of the two faces.
        return _relabel(_join_must_links(self.labels, [tuple(p) for p in self.must.tolist()], n))

    def _kept(self, edges: np.ndarray, level: int) -> np.ndarray:
        """The edges the splitting rule of ``level`` keeps."""
        d = self.d[edges]
        if level < len(self.thresholds):
            return edges[d < self.thresholds[level]]
        m = _MUTUAL_RANKS[level - len(self.thresholds)]
        ends = np.concatenate([self.lo[edges], self.hi[edges]])
        order = np.lexsort((np.concatenate([d, d]), ends))
        sorted_ends = ends[order]
        starts = np.searchsorted(sorted_ends, sorted_ends, side="left")
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order)) - starts
        worst = np.maximum(rank[: len(edges)], rank[len(edges) :])
        return edges[worst < m]

    def _constraints_in(self, members: np.ndarray, pairs: np.ndarray) -> list[tuple[int, int]]:
        if not len(pairs) or not self.constrained[members].any():
            return []
        inside = np.isin(pairs, members).all(axis=1)
        pos = {int(f): i for i, f in enumerate(members)}
        return [(pos[int(a)], pos[int(b)]) for a, b in pairs[inside]]

    def _dense(self, members: np.ndarray) -> None:
        shifted = self.dist.block(members, members)
        local = average_linkage_labels(shifted, self.cut, (), self._constraints_in(members, self.cannot))
        self.labels[members] = self.next_label + local
        self.next_label += int(local.max()) + 1
