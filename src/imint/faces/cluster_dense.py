"""Calibrated average linkage over the dense N x N matrix of ``log10 FMR`` distances.

Exact and fast up to a few thousand faces; memory grows with N^2 (30,000 faces = 7 GB), so
``imint.faces.cluster.cluster_embeddings`` hands larger sets to ``imint.faces.graph_cluster``.
Two faces are joined when their calibrated false-match rate (at the lower quality of the two)
is below the chosen FMR; average linkage avoids the chaining of single linkage. Must-links
join whole clusters afterwards, cannot-links are split by complete linkage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from imint.faces.quality import quality_bin

if TYPE_CHECKING:
    from imint.faces.calibration import Calibration

DEFAULT_CLUSTER_FMR = 1e-3
_FAR = 50.0  # distance that never joins (a cannot-link)


def fmr_distances(embeddings: np.ndarray, quality: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Pairwise ``log10 FMR`` (lower = more alike), calibrated for each pair's qualities."""
    scores = embeddings @ embeddings.T
    names = np.array([quality_bin(float(q)) for q in quality])
    dist = np.empty_like(scores, dtype=np.float64)
    for a in np.unique(names):
        for b in np.unique(names):
            mask = (names[:, None] == a) & (names[None, :] == b)
            qa = float(quality[names == a][0])
            qb = float(quality[names == b][0])
            dist[mask] = np.log10(calibration.table(qa, qb).fmr(scores[mask]))
    np.fill_diagonal(dist, -12.0)
    return dist


def dense_cluster_embeddings(
    embeddings: np.ndarray,
    quality: np.ndarray,
    calibration: Calibration,
    *,
    fmr: float = DEFAULT_CLUSTER_FMR,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
) -> np.ndarray:
    """Cluster labels (0..k-1) for row-aligned embeddings; constraints are index pairs."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1:
        return np.zeros(1, np.int64)
    dist = fmr_distances(np.asarray(embeddings, np.float32), np.asarray(quality, np.float64), calibration)
    # linkage wants non-negative distances: shift by the smallest possible log FMR.
    return average_linkage_labels(dist + 12.0, np.log10(fmr) + 12.0, must_link, cannot_link)


def average_linkage_labels(
    shifted: np.ndarray,
    cut: float,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
) -> np.ndarray:
    """Average linkage of a square matrix of shifted (>= 0) ``log10 FMR`` distances, cut at ``cut``,
    with people's constraints (index pairs); labels 0..k-1. Modifies ``shifted``."""
    n = len(shifted)
    if n <= 1:
        return np.zeros(n, np.int64)
    must_link, cannot_link = list(must_link), list(cannot_link)
    for a, b in must_link:
        shifted[a, b] = shifted[b, a] = 0.0
    for a, b in cannot_link:
        shifted[a, b] = shifted[b, a] = _FAR + 12.0
    np.fill_diagonal(shifted, 0.0)
    shifted = (shifted + shifted.T) / 2
    tree = linkage(squareform(shifted, checks=False), method="average")
    labels = fcluster(tree, t=cut, criterion="distance") - 1
    labels = _apply_must_link(labels, must_link)
    labels = _repair_cannot_link(labels, shifted, cannot_link, cut)
    _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.int64)


def _apply_must_link(labels: np.ndarray, must_link: list[tuple[int, int]]) -> np.ndarray:
    labels = labels.copy()
    for a, b in must_link:
        if labels[a] != labels[b]:
            labels[labels == labels[b]] = labels[a]
    return labels


def _repair_cannot_link(
    labels: np.ndarray, dist: np.ndarray, cannot_link: list[tuple[int, int]], cut: float
) -> np.ndarray:
    labels = labels.copy()
    next_label = labels.max() + 1
    for a, b in cannot_link:
        if labels[a] != labels[b]:
            continue
        members = np.flatnonzero(labels == labels[a])
        sub = dist[np.ix_(members, members)]
        # Complete linkage never keeps two faces at the cannot-link distance together.
        tree = linkage(squareform(sub, checks=False), method="complete")
        sub_labels = fcluster(tree, t=min(cut, _FAR - 1), criterion="distance")
        for lab in np.unique(sub_labels)[1:]:
            labels[members[sub_labels == lab]] = next_label
            next_label += 1
    return labels
