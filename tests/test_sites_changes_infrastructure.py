"""`imint changes` with 3+ dates: detections on learnt fixed infrastructure are set apart from vessels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imint.sites import add_scene, add_site, detect_ships, site_changes
from imint.sites.synthetic import make_sar_scene
from imint.workspace import Workspace

DATES = ["2026-06-01", "2026-06-08", "2026-06-15", "2026-06-22"]
PIERS = [(120.0, 300.0), (300.0, 120.0)]  # bright fixed targets at every date


def _scene(folder: Path, d: int, date: str, rng: np.random.Generator) -> Path:
    fixed = [{"col": c, "row": r, "length_m": 120.0, "heading_deg": 0.0, "sigma0": 40.0} for c, r in PIERS]
    vessels = [
        {
            "col": float(rng.uniform(40, 360)),
            "row": float(rng.uniform(40, 360)),
            "length_m": 80.0,
            "heading_deg": float(rng.uniform(0, 180)),
            "sigma0": 20.0,
        }
        for _ in range(3)
    ]
    vessels = [v for v in vessels if min(np.hypot(v["col"] - c, v["row"] - r) for c, r in PIERS) > 40]
    return make_sar_scene(
        folder / f"harbour_{date}.tif", width=400, height=400, ships=fixed + vessels, land=False, seed=90 + d,
        date=date,
    ).path  # fmt: skip


def test_fixed_targets_are_reported_apart_and_not_counted_as_ships(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ws = Workspace(tmp_path / "ws")
    add_site(ws, "harbour", point=(131.90, 43.08), radius_m=3000)
    for d, date in enumerate(DATES):
        scene = add_scene(ws, _scene(tmp_path, d, date, rng), site="harbour", modality="SAR")
        detect_ships(ws, scene, land_mask=None)
    report = site_changes(ws, "harbour")
    data = report.to_dict()
    assert len(report.static_targets) >= len(PIERS)
    assert data["infrastructure_counts"] == {d: len(PIERS) for d in DATES}
    for pair in report.pairs:  # piers never arrive, depart or stay: only vessels are matched
        for p in pair.arrivals + pair.departures + [s["b"] for s in pair.stayed]:
            cx, cy = (p["box"][0] + p["box"][2]) / 2, (p["box"][1] + p["box"][3]) / 2
            assert min(np.hypot(cx - c, cy - r) for c, r in PIERS) > 20, p
    assert all(report.counts[d] >= 1 for d in DATES)  # vessels are still counted
    assert any("fixed infrastructure learnt from 4 dates" in n for n in report.notes)
    kinds = {f["properties"]["change"] for f in report.to_geojson()["features"]}
    assert "infrastructure" in kinds
    ws.close()


def test_two_dates_learn_no_infrastructure(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ws = Workspace(tmp_path / "ws")
    add_site(ws, "harbour", point=(131.90, 43.08), radius_m=3000)
    for d, date in enumerate(DATES[:2]):
        detect_ships(ws, add_scene(ws, _scene(tmp_path, d, date, rng), site="harbour", modality="SAR"),
                     land_mask=None)  # fmt: skip
    report = site_changes(ws, "harbour")
    assert report.infrastructure == {} and report.static_targets == []
    assert report.counts[DATES[0]] >= len(PIERS)  # the piers count as ships with only two dates
    ws.close()
