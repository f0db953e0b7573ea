"""JPEG quantisation tables, the quality of each save, and evidence of an earlier save.

* The last save: a JPEG file carries the quantisation tables it was written with. Compared with the IJG
  (libjpeg) standard tables scaled for qualities 1-100, they give the quality of the last save, or say
  that the tables are not standard ones (many cameras and editors have their own; Farid 2006,
  "Digital image ballistics from JPEG quantization").
* Earlier saves: "JPEG ghosts" (Farid 2009, "Exposing digital forgeries from JPEG ghosts"). Saving a
  picture again at the quality it was once saved at changes it little, so the difference between the
  picture and its re-save, as a function of re-save quality, has a dip at an earlier quality below the
  last one. The map at that quality shows regions that do not share the earlier save (pasted in later).

What it cannot show: a ghost needs the earlier quality to be lower than the last; a picture resized or
cropped off the 8 x 8 grid between saves loses it; tables say which software wrote the last save, not who.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from imint.checks.base import CheckContext, CheckResult

# IJG standard tables (ITU-T T.81 Annex K), natural (row-major) order.
STD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)  # fmt: skip
STD_CHROMA = np.array(
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
     47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=np.float64)  # fmt: skip
GHOST_QUALITIES = tuple(range(30, 100, 5))
# A ghost counts as an earlier save when its difference is this much below the next quality's.
GHOST_DIP = 0.90
METHOD_ID = "quant tables vs IJG 1-100 (Farid 2006); JPEG ghosts q30-95 (Farid 2009)"


def ijg_table(std: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's ``jpeg_quality_scaling``: the table a standard encoder writes at ``quality``."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q  # integer arithmetic, as libjpeg does
    return np.clip((std.astype(np.int64) * scale + 50) // 100, 1, 255).astype(np.float64)


def estimate_quality(tables: dict[int, list[int]]) -> dict[str, object]:
    """Nearest IJG quality of the luminance (and chrominance) table, and whether they match exactly."""
    luma = np.asarray(tables.get(0, []), dtype=np.float64)
    if luma.size != 64:
        return {"quality": None, "standard": False, "error_per_entry": None}
    chroma = np.asarray(tables[1], dtype=np.float64) if 1 in tables and len(tables[1]) == 64 else None
    best_q, best_err = 0, float("inf")
    for q in range(1, 101):
        err = float(np.abs(ijg_table(STD_LUMA, q) - luma).sum())
        if chroma is not None:
            err += float(np.abs(ijg_table(STD_CHROMA, q) - chroma).sum())
        if err < best_err:
            best_q, best_err = q, err
    n = 64 * (2 if chroma is not None else 1)
    return {"quality": best_q, "standard": best_err == 0, "error_per_entry": round(best_err / n, 3)}


def _resave_luma(luma: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(luma).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32)


def ghost_curve(rgb: np.ndarray, qualities: tuple[int, ...] = GHOST_QUALITIES) -> dict[int, np.ndarray]:
    """Per quality, the 8 x 8-block mean squared difference between the luma and its re-save."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0]
    out = {}
    for q in qualities:
        d = (luma.astype(np.float32) - _resave_luma(luma, q)) ** 2
        out[q] = cv2.blur(d, (8, 8))
    return out


def find_ghost(curve: dict[int, float], last_quality: int | None) -> tuple[int | None, float]:
    """The deepest ghost below the last save's quality: (quality, ratio of its difference to the next one's).

    Without an earlier save the difference falls as the re-save quality rises; a ghost is a quality whose
    difference is lower than that of the next higher quality (ratio below 1). Qualities within 5 of the
    last save are left out: re-saving near the last quality is always cheap.
    """
    qs = sorted(q for q in curve if last_quality is None or q <= last_quality - 5)
    best_q, best_ratio = None, 1.0
    for q, q_next in zip(qs, qs[1:], strict=False):
        ratio = curve[q] / curve[q_next] if curve[q_next] > 0 else 1.0
        if ratio < best_ratio:
            best_q, best_ratio = q, ratio
    return best_q, best_ratio


def jpeg(ctx: CheckContext) -> CheckResult:
    """Quality of the last save (from the tables) and of an earlier one (from ghosts), with a ghost map."""
    if not ctx.is_image():
        return CheckResult("jpeg", "absent", f"{ctx.name} is not an image.", method=METHOD_ID)
    img = ctx.pil("jpeg")
    if img.format != "JPEG":
        return CheckResult(
            "jpeg",
            "absent",
            f"The file is {img.format}, not JPEG: it carries no quantisation tables (it may still have been a JPEG once).",
            method=METHOD_ID,
        )
    tables = {int(k): list(v) for k, v in (getattr(img, "quantization", None) or {}).items()}
    last = estimate_quality(tables)
    rgb = ctx.rgb("jpeg")
    maps = ghost_curve(rgb)
    curve = {q: float(m.mean()) for q, m in maps.items()}
    last_q = last["quality"] if isinstance(last["quality"], int) else None
    ghost_q, ratio = find_ghost(curve, last_q)
    double = ghost_q is not None and ratio <= GHOST_DIP
    table_text = (
        f"standard IJG tables at quality {last_q}"
        if last["standard"]
        else f"non-standard tables (camera- or editor-specific), nearest IJG quality {last_q}"
    )
    heat = None
    if double:
        m = maps[ghost_q]
        heat = np.clip(m / (float(np.percentile(m, 99.5)) or 1.0), 0, 1)
        summary = (
            f"Last saved with {table_text}; re-saving at quality {ghost_q} changes it less than at {ghost_q + 5} "
            f"(ratio {ratio:.2f}), a sign of an earlier save at about that quality. Bright map regions do not share it. "
            "A re-save is normal for pictures passed around; it is not itself an edit."
        )
    else:
        summary = (
            f"Last saved with {table_text}; no sign of an earlier save at a lower quality "
            "(earlier saves at a higher quality, or before a resize, leave none)."
        )
    return CheckResult(
        "jpeg",
        "flagged" if double else "ok",
        summary,
        score=round(1.0 - ratio, 4) if ghost_q is not None else 0.0,
        details={
            "tables": tables,
            "last_save": last,
            "ghost_curve": {str(q): round(v, 4) for q, v in curve.items()},
            "earlier_save_quality": ghost_q if double else None,
            "ghost_ratio": round(ratio, 4),
            "progressive": bool(img.info.get("progressive") or img.info.get("progression")),
            "subsampling": _subsampling(img),
        },
        method=METHOD_ID,
        heatmap=heat,
    )


def _subsampling(img: Image.Image) -> str | None:
    try:
        from PIL import JpegImagePlugin

        return {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(img))
    except Exception:  # noqa: BLE001 - informational only
        return None
