"""Copy-move detection: a part of the picture pasted elsewhere in the same picture.

Keypoint method after Amerini et al. 2011 ("A SIFT-based forensic method for copy-move attack detection
and transformation recovery"), with the translation clustering of block methods (Fridrich, Soukal & Lukáš
2003, "Detection of copy-move forgery in digital images"): SIFT keypoints of the picture are matched
against the picture itself (generalised 2-nearest-neighbour ratio test, the trivial self-match skipped,
pairs closer than ``MIN_SHIFT`` px dropped), and the offset vectors of the matches are clustered. Many
matches sharing one offset mean one region repeats elsewhere, shifted by that offset.

What it cannot show: flat or keypoint-poor regions (sky, walls) are missed; scaled or rotated clones
spread their offsets and are found only if enough matches still share one; repeated real structure
(windows, tiles, fences) also repeats, so a flag means "look at these two regions", not "forged".
"""

from __future__ import annotations

import cv2
import numpy as np

from imint.checks.base import CheckContext, CheckResult, not_applicable

RATIO = 0.5
MIN_SHIFT = 24  # px: nearer matches are usually the same structure seen twice by the detector
BIN = 6  # px: offsets within one bin (and its neighbours) count as one translation
MIN_MATCHES = 8  # matches sharing one offset for a flag; six unmodified skimage photos reach at most 1
MAX_KEYPOINTS = 6000
CONTRAST = 0.01  # below OpenCV's 0.04: clones of low-contrast texture need keypoints too
METHOD_ID = f"SIFT self-match g2NN<{RATIO}, offset clusters {BIN}px, min {MIN_MATCHES} (Amerini 2011)"


def self_matches(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matched keypoint pairs ``(n, 2)`` and ``(n, 2)`` (x, y) of the picture against itself."""
    sift = cv2.SIFT_create(nfeatures=MAX_KEYPOINTS, contrastThreshold=CONTRAST)
    kps, desc = sift.detectAndCompute(grey, None)
    if desc is None or len(kps) < 3:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    pts = np.array([k.pt for k in kps], np.float32)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    knn = matcher.knnMatch(desc, desc, k=min(6, len(kps)))
    src, dst = [], []
    for i, ms in enumerate(knn):
        ms = [m for m in ms if m.trainIdx != i]  # the trivial self-match
        # g2NN (Amerini 2011): accept neighbours while each distance is well below the next one.
        for a, b in zip(ms, ms[1:], strict=False):
            if a.distance >= RATIO * max(b.distance, 1e-6):
                break
            j = a.trainIdx
            if j > i and np.hypot(*(pts[j] - pts[i])) >= MIN_SHIFT:
                src.append(pts[i])
                dst.append(pts[j])
    if not src:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    return np.array(src, np.float32), np.array(dst, np.float32)


def largest_translation(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Indices of the matches in the most common offset (sign-normalised), and that offset (dx, dy)."""
    if len(src) == 0:
        return np.zeros(0, int), (0.0, 0.0)
    off = dst - src
    flip = (off[:, 0] < 0) | ((off[:, 0] == 0) & (off[:, 1] < 0))
    off[flip] *= -1
    bins = np.round(off / BIN).astype(int)
    keys, inverse, counts = np.unique(bins, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    # Count each bin with its 8 neighbours, as an offset on a bin edge falls either side.
    lookup = {tuple(k): c for k, c in zip(keys.tolist(), counts.tolist(), strict=True)}
    pooled = [
        sum(lookup.get((k[0] + dx, k[1] + dy), 0) for dx in (-1, 0, 1) for dy in (-1, 0, 1))
        for k in keys.tolist()
    ]
    centre = keys[int(np.argmax(pooled))]
    members = np.flatnonzero(np.abs(bins - centre).max(axis=1) <= 1)
    dx, dy = np.median(off[members], axis=0)
    return members, (float(dx), float(dy))


def copy_move(ctx: CheckContext) -> CheckResult:
    """Regions repeated within the picture: the clone pair as a heat map, the shared offset, the match count."""
    if not ctx.is_image():
        return not_applicable("copy_move", ctx.evidence, METHOD_ID)
    rgb = ctx.rgb("copy_move")
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    src, dst = self_matches(grey)
    members, (dx, dy) = largest_translation(src, dst)
    n = int(len(members))
    heat = np.zeros(grey.shape, np.float32)
    boxes: list[list[int]] = []
    if n >= 3:
        for pts in (src[members], dst[members]):
            hull = cv2.convexHull(pts.astype(np.int32))
            cv2.fillConvexPoly(heat, hull, 1.0)
            x, y, w, h = cv2.boundingRect(pts.astype(np.int32))
            boxes.append([x, y, x + w, y + h])
        heat = cv2.GaussianBlur(heat, (0, 0), 4)
        heat /= heat.max() or 1.0
    flagged = n >= MIN_MATCHES
    if flagged:
        summary = (
            f"{n} keypoint matches share one shift of ({dx:.0f}, {dy:.0f}) px: the region at "
            f"{boxes[0]} repeats at {boxes[1]}; a clone, or real repeated structure (windows, tiles)."
        )
    else:
        summary = (
            f"No repeated region found (largest group of matches with one shift: {n}); "
            "clones of flat areas, or scaled and rotated clones, can be missed."
        )
    return CheckResult(
        "copy_move",
        "flagged" if flagged else "ok",
        summary,
        score=float(n),
        details={
            "matches_total": int(len(src)),
            "matches_in_cluster": n,
            "offset": [round(dx, 1), round(dy, 1)],
            "regions": boxes,
        },
        method=METHOD_ID,
        heatmap=heat if n >= 3 else None,
    )
