"""Shared helpers: box IoU (tracking, ship evaluation) and the dev-identity split (training, calibration)."""

from __future__ import annotations

import numpy as np

from imint.faces.datasets import identity_split, in_fit_half
from imint.records import box_iou


def test_box_iou_of_every_pair() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert np.allclose(iou[0], [1.0, 50 / 150, 0.0])
    assert np.allclose(iou[1], 0.0)


def test_box_iou_with_no_boxes_is_empty() -> None:
    assert box_iou(np.zeros((0, 4)), np.array([[0, 0, 1, 1]])).shape == (0, 1)


def test_identity_split_keeps_the_check_half_out_of_training_and_fitting() -> None:
    names = [f"Person_{i}" for i in range(2000)]
    splits = {n: identity_split(n) for n in names}
    assert set(splits.values()) == {"embedder", "calibration", "check"}
    # The check half is exactly the half the calibration was always checked on.
    assert all((splits[n] == "check") == (not in_fit_half(n)) for n in names)
    shares = {
        k: sum(v == k for v in splits.values()) / len(names) for k in ("embedder", "calibration", "check")
    }
    assert (
        0.2 < shares["embedder"] < 0.3 and 0.2 < shares["calibration"] < 0.3 and 0.45 < shares["check"] < 0.55
    )
