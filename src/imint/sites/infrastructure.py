"""Static infrastructure at a site: bright targets present at (nearly) every date are fixed, not vessels.

Piers, buoys, platforms, moored pontoons and shore cranes return strongly on every SAR pass, so a ship
detector finds them on every date and a naive date-to-date comparison counts them as "stayed". With
several co-registered dates of one site, each pixel's *persistence* is the fraction of dates on which
it is a CFAR hit (hits dilated by ``tolerance_px`` to absorb small mis-registration); pixels persistent
on at least ``min_fraction`` of the dates form the fixed-target mask. Detections covering mostly that
mask are relabelled ``infrastructure``; the others stay ``ship``, and arrivals/departures are
computed on ships only.

Limits (see docs/sites.md): a vessel that stays moored through every date is indistinguishable from
infrastructure by this rule (use dates spread over weeks); three dates are the minimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from imint.errors import ValidationError
from imint.records import Detections
from imint.sites import cfar
from imint.sites.matching import match_points

INFRASTRUCTURE = "infrastructure"
MIN_DATES = 3


@dataclass
class StaticInfrastructure:
    """The learnt fixed-target mask of a site (on the grid of its co-registered dates)."""

    persistence: np.ndarray  # float32 (h, w): fraction of dates with a (dilated) CFAR hit
    mask: np.ndarray  # bool (h, w): persistence >= min_fraction
    n_dates: int
    min_fraction: float
    tolerance_px: int
    dates: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape  # type: ignore[return-value]

    def components(self) -> list[dict[str, Any]]:
        """Each fixed target: pixel box (x1, y1, x2, y2 exclusive), area in px, mean persistence."""
        n, labels, stats, _ = cv2.connectedComponentsWithStats(self.mask.astype(np.uint8), connectivity=8)
        out = []
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            out.append(
                {
                    "box": [x, y, x + w, y + h],
                    "area_px": area,
                    "persistence": round(float(self.persistence[labels == i].mean()), 3),
                }
            )
        return out


def _check_stack(images: Sequence[np.ndarray], names: Sequence[str]) -> None:
    if len(images) < MIN_DATES:
        raise ValidationError(
            f"learning static infrastructure needs at least {MIN_DATES} dates (got {len(images)})",
            subject="dates",
        )
    shape = np.shape(images[0])[:2]
    for image, name in zip(images, names, strict=True):
        if np.shape(image)[:2] != shape:
            raise ValidationError(
                f"not co-registered: {np.shape(image)[:2]} px vs {shape} px of the first date", subject=name
            )


def hit_map(
    image: np.ndarray,
    params: cfar.CfarParams,
    *,
    pixel_size_m: float = 1.0,
    water: np.ndarray | None = None,
) -> np.ndarray:
    """CFAR hit pixels (z above the threshold) of one date, as bool."""
    image = np.asarray(image, np.float32)
    if image.ndim == 3:
        image = image.mean(axis=2)
    valid = np.isfinite(image) if water is None else np.isfinite(image) & water
    target, guard, background = params.windows_px(pixel_size_m)
    z = cfar.z_map(image, valid, target, guard, background)
    with np.errstate(invalid="ignore"):
        return z > params.threshold


def learn_static(
    images: Sequence[np.ndarray],
    *,
    params: cfar.CfarParams | None = None,
    pixel_size_m: float = 1.0,
    min_fraction: float = 0.8,
    tolerance_px: int = 2,
    water: np.ndarray | None = None,
    dates: Sequence[str] | None = None,
) -> StaticInfrastructure:
    """The fixed-target mask of co-registered single-band images of one site (one per date)."""
    if not 0 < min_fraction <= 1:
        raise ValidationError(f"min_fraction must be in (0, 1] (got {min_fraction})", subject="min_fraction")
    names = list(dates) if dates is not None else [f"date {i + 1}" for i in range(len(images))]
    if len(names) != len(images):
        raise ValidationError(f"{len(names)} dates for {len(images)} images", subject="dates")
    _check_stack(images, names)
    params = params or cfar.CfarParams()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance_px + 1,) * 2)
    count = np.zeros(np.shape(images[0])[:2], np.float32)
    for image in images:
        hits = hit_map(image, params, pixel_size_m=pixel_size_m, water=water).astype(np.uint8)
        count += cv2.dilate(hits, kernel) if tolerance_px > 0 else hits
    persistence = count / len(images)
    # A fraction of dates, rounded to whole dates, so 4 of 5 passes with min_fraction 0.8 is persistent.
    mask = persistence >= (np.ceil(min_fraction * len(images) - 1e-9) / len(images))
    return StaticInfrastructure(
        persistence=persistence,
        mask=mask,
        n_dates=len(images),
        min_fraction=min_fraction,
        tolerance_px=tolerance_px,
        dates=names,
    )


def label_infrastructure(
    found: Detections, static: StaticInfrastructure, *, min_cover: float = 0.5
) -> Detections:
    """``found`` with class ``infrastructure`` where at least ``min_cover`` of its box is fixed-target mask.

    Boxes are pixels on the static mask's grid; the boxes and scores are unchanged.
    """
    if not 0 < min_cover <= 1:
        raise ValidationError(f"min_cover must be in (0, 1] (got {min_cover})", subject="min_cover")
    h, w = static.shape
    classes = list(found.class_names)
    integral = cv2.integral(static.mask.astype(np.uint8))
    for i, box in enumerate(found.boxes):
        x1, y1 = int(np.clip(np.floor(box[0]), 0, w)), int(np.clip(np.floor(box[1]), 0, h))
        x2, y2 = int(np.clip(np.ceil(box[2]), 0, w)), int(np.clip(np.ceil(box[3]), 0, h))
        area = (x2 - x1) * (y2 - y1)
        if area <= 0:
            continue
        fixed = integral[y2, x2] - integral[y1, x2] - integral[y2, x1] + integral[y1, x1]
        if fixed / area >= min_cover:
            classes[i] = INFRASTRUCTURE
    return Detections(
        boxes=found.boxes, scores=found.scores, class_names=classes, detector_id=found.detector_id
    )


def detect_over_time(
    images: Sequence[np.ndarray],
    dates: Sequence[str],
    *,
    params: cfar.CfarParams | None = None,
    pixel_size_m: float = 1.0,
    min_fraction: float = 0.8,
    tolerance_px: int = 2,
    min_cover: float = 0.5,
    water: np.ndarray | None = None,
) -> tuple[StaticInfrastructure, list[Detections]]:
    """CFAR on every date, with fixed targets learnt from all dates and labelled ``infrastructure``."""
    params = params or cfar.CfarParams()
    static = learn_static(
        images,
        params=params,
        pixel_size_m=pixel_size_m,
        min_fraction=min_fraction,
        tolerance_px=tolerance_px,
        water=water,
        dates=dates,
    )
    per_date = [
        label_infrastructure(
            cfar.detect_array(image, params, pixel_size_m=pixel_size_m, water=water),
            static,
            min_cover=min_cover,
        )
        for image in images
    ]
    return static, per_date


def vessel_changes(
    per_date: Sequence[Detections], dates: Sequence[str], *, max_distance_px: float
) -> list[dict[str, Any]]:
    """Arrivals, departures and stayed between consecutive dates, counting ``ship`` detections only.

    Each entry: ``date_a``, ``date_b``, ``ships_a``, ``ships_b``, ``infrastructure_a``/``_b`` (counts
    set apart), and the index lists ``arrivals`` (into date b), ``departures`` (into date a), ``stayed``
    (pairs). Matching is one-to-one by pixel distance between box centres (co-registered grid).
    """
    if len(per_date) != len(dates):
        raise ValidationError(f"{len(dates)} dates for {len(per_date)} detection sets", subject="dates")
    if list(dates) != sorted(dates):
        raise ValidationError(f"dates are not in order: {', '.join(dates)}", subject="dates")

    def ships(d: Detections) -> tuple[np.ndarray, np.ndarray]:
        idx = np.array([i for i, c in enumerate(d.class_names) if c != INFRASTRUCTURE], int)
        b = d.boxes[idx] if len(idx) else np.zeros((0, 4), np.float32)
        return idx, np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)

    out = []
    for k in range(len(dates) - 1):
        da, a, db, b = dates[k], per_date[k], dates[k + 1], per_date[k + 1]
        ia, pa = ships(a)
        ib, pb = ships(b)
        pairs, gone, new = match_points(pa, pb, max_distance_px, metric="euclidean")
        out.append(
            {
                "date_a": da,
                "date_b": db,
                "ships_a": len(ia),
                "ships_b": len(ib),
                "infrastructure_a": len(a) - len(ia),
                "infrastructure_b": len(b) - len(ib),
                "arrivals": [int(ib[j]) for j in new],
                "departures": [int(ia[i]) for i in gone],
                "stayed": [(int(ia[i]), int(ib[j])) for i, j, _ in pairs],
            }
        )
    return out
