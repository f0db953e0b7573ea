"""Static infrastructure: targets present on (nearly) every date are set apart from vessels."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from imint.errors import ValidationError
from imint.records import Detections
from imint.sites import cfar
from imint.sites.infrastructure import (
    INFRASTRUCTURE,
    detect_over_time,
    label_infrastructure,
    learn_static,
    vessel_changes,
)
from imint.sites.synthetic import make_sar_scene

DATES = ["2026-03-01", "2026-03-08", "2026-03-15", "2026-03-22", "2026-03-29"]
# Fixed targets (platforms, buoys, a pier head): on every date, same place.
FIXED = [
    {"col": 80.0, "row": 90.0, "length_m": 60.0, "heading_deg": 0.0, "sigma0": 30.0},
    {"col": 400.0, "row": 120.0, "length_m": 40.0, "heading_deg": 90.0, "sigma0": 30.0},
    {"col": 250.0, "row": 420.0, "length_m": 80.0, "heading_deg": 45.0, "sigma0": 30.0},
]
# Vessels: each present on some dates only (never on 4 of 5), at its own place.
VESSELS = {
    "A": ({"col": 150.0, "row": 250.0, "length_m": 120.0, "heading_deg": 30.0}, {0, 1}),
    "B": ({"col": 330.0, "row": 300.0, "length_m": 90.0, "heading_deg": 120.0}, {1, 2, 3}),
    "C": ({"col": 430.0, "row": 430.0, "length_m": 150.0, "heading_deg": 10.0}, {3, 4}),
    "D": ({"col": 100.0, "row": 400.0, "length_m": 100.0, "heading_deg": 70.0}, {0}),
    "E": ({"col": 260.0, "row": 160.0, "length_m": 110.0, "heading_deg": 160.0}, {2, 4}),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[np.ndarray], list[list[str]]]:
    folder = tmp_path_factory.mktemp("infra")
    images, present = [], []
    for d, date in enumerate(DATES):
        names = [k for k, (_, on) in VESSELS.items() if d in on]
        ships = [dict(s) for s in FIXED] + [dict(VESSELS[k][0]) for k in names]
        scene = make_sar_scene(
            folder / f"site_{date}.tif",
            width=512,
            height=512,
            ships=ships,
            land=False,
            seed=100 + d,
            date=date,
        )
        with rasterio.open(scene.path) as ds:
            images.append(ds.read(1).astype(np.float32))
        present.append(names)
    return images, present


def _nearest(found: Detections, col: float, row: float) -> int | None:
    if not len(found):
        return None
    cx = (found.boxes[:, 0] + found.boxes[:, 2]) / 2
    cy = (found.boxes[:, 1] + found.boxes[:, 3]) / 2
    d = np.hypot(cx - col, cy - row)
    return int(np.argmin(d)) if d.min() < 8 else None


def test_fixed_targets_are_infrastructure_and_vessels_are_ships(stack: tuple) -> None:
    images, present = stack
    static, per_date = detect_over_time(images, DATES, pixel_size_m=10.0)
    assert static.n_dates == 5 and 1 <= len(static.components()) <= 6
    for d, found in enumerate(per_date):
        for f in FIXED:
            i = _nearest(found, f["col"], f["row"])
            assert i is not None, f"fixed target at {f['col']},{f['row']} not detected on {DATES[d]}"
            assert found.class_names[i] == INFRASTRUCTURE
        for name in present[d]:
            v = VESSELS[name][0]
            i = _nearest(found, v["col"], v["row"])
            assert i is not None, f"vessel {name} not detected on {DATES[d]}"
            assert found.class_names[i] == "ship", f"vessel {name} taken for infrastructure on {DATES[d]}"
        assert found.class_names.count("ship") == len(present[d])  # no false alarm on open sea


def test_arrivals_and_departures_count_vessels_only(stack: tuple) -> None:
    images, present = stack
    _, per_date = detect_over_time(images, DATES, pixel_size_m=10.0)
    changes = vessel_changes(per_date, DATES, max_distance_px=10)
    for d, c in enumerate(changes):
        a, b = set(present[d]), set(present[d + 1])
        assert (len(c["arrivals"]), len(c["departures"]), len(c["stayed"])) == (
            len(b - a),
            len(a - b),
            len(a & b),
        )
        assert c["infrastructure_a"] == c["infrastructure_b"] == len(FIXED)
    # Without the mask every fixed target would be counted as a ship that "stayed".
    plain = [cfar.detect_array(im, pixel_size_m=10.0) for im in images]
    naive = vessel_changes(plain, DATES, max_distance_px=10)
    assert len(naive[0]["stayed"]) == len(set(present[0]) & set(present[1])) + len(FIXED)


def test_a_target_on_few_dates_is_not_learnt(stack: tuple) -> None:
    images, _ = stack
    static = learn_static(images, pixel_size_m=10.0, min_fraction=0.8)
    for v, on in VESSELS.values():
        assert static.persistence[int(v["row"]), int(v["col"])] <= len(on) / 5 + 1e-6
        assert not static.mask[int(v["row"]), int(v["col"])]
    for f in FIXED:
        assert static.mask[int(f["row"]), int(f["col"])]


def test_bad_input_is_refused(stack: tuple) -> None:
    images, _ = stack
    with pytest.raises(ValidationError, match="at least 3 dates"):
        learn_static(images[:2])
    with pytest.raises(ValidationError) as err:
        learn_static([*images[:3], images[3][:100]], dates=DATES[:4])
    assert err.value.subject == DATES[3]
    with pytest.raises(ValidationError, match="not in order"):
        vessel_changes([Detections.empty()] * 2, ["2026-03-08", "2026-03-01"], max_distance_px=5)
    static = learn_static(images, pixel_size_m=10.0)
    with pytest.raises(ValidationError, match="min_cover"):
        label_infrastructure(Detections.empty(), static, min_cover=0)
