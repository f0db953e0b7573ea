"""Pictures people would rather look at than read: faces drawn with names and FMRs."""

from __future__ import annotations

import cv2
import numpy as np

GREEN = (40, 180, 60)
AMBER = (235, 160, 20)
GREY = (160, 160, 160)
RED = (220, 50, 50)


def draw_faces(image: np.ndarray, labelled: list[tuple[tuple[float, ...], str, str]]) -> np.ndarray:
    """Draw ``(box, label, state)`` on a copy of an RGB image.

    ``state`` is ``match`` (a candidate above the operating point), ``unknown``,
    ``poor`` (flagged quality) or ``confirmed``.
    """
    out = image.copy()
    h, w = out.shape[:2]
    thickness = max(1, round(max(h, w) / 500))
    font_scale = max(0.4, max(h, w) / 1400)
    colours = {"match": AMBER, "confirmed": GREEN, "unknown": GREY, "poor": RED}
    for box, label, state in labelled:
        x1, y1, x2, y2 = (int(round(v)) for v in box[:4])
        colour = colours.get(state, GREY)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        if not label:
            continue
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - 4 if y1 - th - 6 > 0 else min(h - 2, y2 + th + 4)
        cv2.rectangle(out, (x1, ty - th - 3), (x1 + tw + 4, ty + base - 1), colour, -1)
        cv2.putText(
            out, label, (x1 + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA
        )
    return out


def fmr_label(fmr: float) -> str:
    """An FMR as a short label on a drawn face or a table cell: 'FMR 1 in 20,000'."""
    if fmr <= 0:
        return "FMR ~0"
    if fmr >= 0.1:
        return f"FMR {fmr:.2f}"
    return f"FMR 1 in {1 / fmr:,.0f}"


# The video modules still import the old name; it goes when they move into imint.faces.video.
