"""Noise residual consistency (after Mahdian & Saic 2009, "Using noise inconsistencies for blind image
forensics"; median-filter residual as in Kirchner & Fridrich 2010).

The grey picture minus its 3 x 3 median is mostly sensor noise and fine texture. Its local variance over
16 x 16 windows is compared with the picture's typical level (log scale, robust z): a region pasted from
another camera, or smoothed, or synthesised, often has noise of another strength.

What it cannot show: smooth sky and textured foliage differ in residual naturally, strong JPEG
compression flattens noise everywhere, and an editor can add matching noise; an even map proves nothing.
"""

from __future__ import annotations

import cv2
import numpy as np

from imint.checks.base import CheckContext, CheckResult, not_applicable
from imint.checks.ela import _hottest_box, robust_peak

WINDOW = 16
FLAG_Z = 6.0  # robust deviations of the top 0.5 % of windows; six untouched pictures reach 1.1-4.5
METHOD_ID = f"median-3 residual, log local variance {WINDOW}px, robust z (Mahdian & Saic 2009)"


def noise_map(rgb: np.ndarray) -> np.ndarray:
    """Robust z-score of the log local residual variance, ``(h, w)`` float32 (0 = typical)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    residual = grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32)
    var = cv2.blur(residual * residual, (WINDOW, WINDOW))
    logv = np.log(var + 0.05)
    med = float(np.median(logv))
    mad = 1.4826 * float(np.median(np.abs(logv - med))) or 1e-6
    return np.abs(logv - med) / mad


def noise(ctx: CheckContext) -> CheckResult:
    """Noise-level map, a score (robust peak) and a plain sentence."""
    if not ctx.is_image():
        return not_applicable("noise", ctx.evidence, METHOD_ID)
    z = noise_map(ctx.rgb("noise"))
    score = float(np.percentile(z, 99.5))
    flagged = score >= FLAG_Z
    where = _hottest_box(z)
    if flagged:
        summary = (
            f"Noise strength in one region (around x={where[0]}-{where[2]}, y={where[1]}-{where[3]}) departs from "
            f"the rest by {score:.1f} robust deviations; it may come from another source, or be a smooth or "
            "very textured area."
        )
    else:
        summary = f"Noise strength is consistent across the picture (peak {score:.1f} robust deviations); added noise can hide an edit."
    return CheckResult(
        "noise",
        "flagged" if flagged else "ok",
        summary,
        score=round(score, 3),
        details={
            "window": WINDOW,
            "hottest_box": where,
            "robust_peak_of_map": robust_peak(z[::WINDOW, ::WINDOW]),
        },
        method=METHOD_ID,
        heatmap=np.clip(z / max(FLAG_Z, score), 0, 1),
    )
