"""Calibrated average-linkage clustering on a k-nearest-neighbour graph, for collections.

``imint.faces.cluster.cluster_embeddings`` builds the dense N x N matrix of
``log10 FMR`` distances and runs scipy's average linkage: exact, but N^2 memory
(30,000 faces is 7 GB). This module gives the same clustering without the matrix:

- Candidates. Average linkage joins two clusters only when the mean distance of
  all their cross pairs is below the cut, which needs at least one cross pair below
  the cut. So only cluster pairs joined by a below-cut pair can ever merge, and those
  pairs are (nearly all) among each face's k nearest neighbours, found with the
  ``CollectionIndex`` (approximate shortlist, exact re-score).
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

Distances are those of ``imint.faces.cluster.fmr_distances``: ``log10 FMR`` of the
exact inner product at the two faces' quality bins, shifted by +12 to be >= 0.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

import numpy as np

from imint.errors import ValidationError
from imint.faces.calibration import Calibration
from imint.faces.cluster import DEFAULT_CLUSTER_FMR
from imint.faces.cluster import cluster_embeddings as dense_cluster_embeddings
from imint.faces.collection_index import CollectionIndex
from imint.faces.quality import QUALITY_BIN_EDGES, QUALITY_BINS

DEFAULT_NEIGHBOURS = 20  # k of the k-NN graph; docs/scale.md has the measurement behind it
_SHIFT = 12.0  # log10 FMR >= -12: shifted distances are >= 0, as in faces/cluster.py
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

    def from_scores(self, scores: np.ndarray, codes: np.ndarray) -> np.ndarray:
        out = np.empty(scores.shape, np.float64)
        for code in np.unique(codes):
            mask = codes == code
            xp, fp = self._tables[int(code)]
            out[mask] = np.interp(scores[mask], xp, fp)
        return out + _SHIFT

    def pairs(self, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
        scores = np.einsum("nd,nd->n", self.vectors[rows_a], self.vectors[rows_b])
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
        _, hits = index.search_rows(vectors[batch], k + 1)
        a = np.repeat(batch, hits.shape[1])
        b = hits.ravel()
        keep = (b >= 0) & (b != a)
        src.append(a[keep])
        dst.append(b[keep])
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(src), np.concatenate(dst)


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
    index: CollectionIndex | None = None,
) -> np.ndarray:
    """Cluster labels (0..k-1) for row-aligned embeddings; constraints are row pairs.

    Same signature and meaning as ``imint.faces.cluster.cluster_embeddings``. ``index``
    may be a ``CollectionIndex`` whose ids are the row numbers 0..n-1 (built if None)."""
    emb, q = _check_inputs(embeddings, quality, fmr)
    n = len(emb)
    if n <= 1:
        return np.zeros(n, np.int64)
    return _cluster(
        emb, q, calibration, np.arange(n), np.arange(n), fmr, must_link, cannot_link, neighbours, index
    )


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
    if index is None:
        index = CollectionIndex.build(np.arange(n), emb)
    elif len(index) != n or not np.array_equal(index.ids(), np.arange(n)):
        raise ValidationError("the index must hold exactly the rows 0..n-1", subject="index")
    dist = PairDistances(emb, quality, calibration)
    # Map index rows (which may be ordered differently after removals) to our rows via ids.
    a, b = knn_graph(index, _index_rows(index, active), neighbours, index.stored_vectors)
    a, b = index.row_ids(a), index.row_ids(b)
    hac = _GraphAverageLinkage(dist, groups, cut, _cannot_pairs(cannot_link, n))
    hac.seed(a, b)
    hac.run()
    # As in faces/cluster.py, a person's merge joins the whole clusters of the two faces.
    return _relabel(_join_must_links(hac.labels(), must_link, n))


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


DENSE_UP_TO = 5_000  # faces; the dense N x N code is exact and fast below this (200 MB matrix)


def cluster_any_size(
    embeddings: np.ndarray,
    quality: np.ndarray,
    calibration: Calibration,
    *,
    fmr: float = DEFAULT_CLUSTER_FMR,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
) -> np.ndarray:
    """The dense clustering of faces/cluster.py up to ``DENSE_UP_TO`` faces, the graph one beyond.

    A drop-in for ``imint.faces.cluster.cluster_embeddings`` (same arguments, same labels)."""
    if len(embeddings) <= DENSE_UP_TO:
        return dense_cluster_embeddings(
            embeddings, quality, calibration, fmr=fmr, must_link=must_link, cannot_link=cannot_link
        )
    return cluster_embeddings(
        embeddings, quality, calibration, fmr=fmr, must_link=must_link, cannot_link=cannot_link
    )
