"""Error level analysis (Krawetz, "A Picture's Worth...", Black Hat 2007).

The picture is saved again as JPEG at quality 75 and subtracted from itself. Regions that have been
through the same JPEG history change alike; a region pasted in with another history (saved fewer times,
or at another quality, or never) often changes more, or less. The map is the per-pixel largest channel
difference averaged over 8 x 8 JPEG blocks.

What it cannot show: edges, fine texture and saturated colour also change more, so a bright ELA region is
a place to look, not a finding; a picture re-saved many times or shrunk after editing evens the map out.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from imint.checks.base import CheckContext, CheckResult, not_applicable

QUALITY = 75
BLOCK = 8
# Flag when the brightest 0.5 % of blocks stand this many robust deviations above the median block.
# Measured (python -m imint.checks.measure): six untouched pictures saved once 2.5-6.2, three pastes 7.5-8.2.
# A line set on so few pictures; real photos with strong edges will cross it.
FLAG_Z = 7.0
METHOD_ID = f"ela q={QUALITY} block={BLOCK} (Krawetz 2007)"


def resave(rgb: np.ndarray, quality: int = QUALITY) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def ela_map(rgb: np.ndarray, quality: int = QUALITY) -> np.ndarray:
    """Per-pixel error level, ``(h, w)`` float32: max channel |rgb - resave(rgb)|, mean over 8 x 8 blocks."""
    diff = np.abs(rgb.astype(np.int16) - resave(rgb, quality).astype(np.int16)).max(axis=2).astype(np.float32)
    return cv2.blur(diff, (BLOCK, BLOCK))


def robust_peak(values: np.ndarray, top: float = 99.5) -> float:
    """How far the top ``100 - top`` % of values stand above the median, in MADs (1.4826-scaled)."""
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - med))) or 1e-6
    return (float(np.percentile(values, top)) - med) / mad


def ela(ctx: CheckContext) -> CheckResult:
    """Error level analysis map, a score (robust peak of block error levels) and a plain sentence."""
    if not ctx.is_image():
        return not_applicable("ela", ctx.evidence, METHOD_ID)
    rgb = ctx.rgb("ela")
    fmt = ctx.pil("ela").format or "?"
    level = ela_map(rgb)
    score = robust_peak(level[::BLOCK, ::BLOCK])
    scale = float(np.percentile(level, 99.5)) or 1.0
    flagged = score >= FLAG_Z
    where = _hottest_box(level)
    note = (
        ""
        if fmt == "JPEG"
        else f" The file is {fmt}, not JPEG, so error levels say little about its history."
    )
    if flagged:
        summary = (
            f"One region (around x={where[0]}-{where[2]}, y={where[1]}-{where[3]}) changes much more than the rest "
            f"when re-saved (peak {score:.1f} robust deviations); it may have another compression history, "
            f"or be an edge or fine texture.{note}"
        )
    else:
        summary = f"Error levels are even across the picture (peak {score:.1f} robust deviations); an edit re-saved with the rest can look like this.{note}"
    return CheckResult(
        "ela",
        "flagged" if flagged else "ok",
        summary,
        score=round(score, 3),
        details={
            "quality": QUALITY,
            "format": fmt,
            "hottest_box": where,
            "p99_5": scale,
            "median": float(np.median(level)),
        },
        method=METHOD_ID,
        heatmap=np.clip(level / scale, 0, 1),
    )


def _hottest_box(level: np.ndarray) -> list[int]:
    """Bounding box of the hottest 1 % of pixels' largest connected blob, ``x1, y1, x2, y2``."""
    mask = (level >= np.percentile(level, 99)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return [0, 0, int(level.shape[1]), int(level.shape[0])]
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[i, :4])
    return [x, y, x + w, y + h]
