"""One-to-one matching of detections between two dates (Hungarian assignment on distance)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from imint.sites import geo


def match_points(
    a: np.ndarray, b: np.ndarray, max_distance: float, *, metric: str = "haversine"
) -> tuple[list[tuple[int, int, float]], list[int], list[int]]:
    """One-to-one matches within ``max_distance`` (Hungarian), unmatched of ``a``, unmatched of ``b``.

    ``a`` and ``b`` are (n, 2) arrays of lon, lat (``haversine``, metres) or x, y (``euclidean``).
    """
    if not len(a) or not len(b):
        return [], list(range(len(a))), list(range(len(b)))
    if metric == "haversine":
        d = geo.haversine_m(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])
    else:
        d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    cost = np.where(d <= max_distance, d, max_distance * 1e3 + d)
    rows, cols = linear_sum_assignment(cost)
    pairs = [
        (int(i), int(j), float(d[i, j])) for i, j in zip(rows, cols, strict=True) if d[i, j] <= max_distance
    ]
    used_a, used_b = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    return pairs, [i for i in range(len(a)) if i not in used_a], [j for j in range(len(b)) if j not in used_b]
