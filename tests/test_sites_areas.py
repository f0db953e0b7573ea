"""Areas of interest of a site, their activity over the site's dates, the scene overlay, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from imint.cli import app
from imint.errors import ConflictError, NotFoundError, ValidationError
from imint.sites import add_scene, add_site, geo, list_scenes
from imint.sites.areas import activity_summary, add_area, list_areas, parse_claim_dates, site_activity
from imint.sites.synthetic import make_sar_scene
from imint.workspace import Workspace

DATES = ["2026-05-01", "2026-05-06", "2026-05-11", "2026-05-16", "2026-05-21", "2026-05-26"]
BUSY = {4}
PARK = (100, 220)  # pixel square of the vehicle park
CENTER = (131.95, 43.80)
runner = CliRunner()


def _vehicles(rng: np.random.Generator, n: int) -> list[dict[str, float]]:
    lo, hi = PARK
    return [
        {
            "col": float(rng.uniform(lo + 10, hi - 10)),
            "row": float(rng.uniform(lo + 10, hi - 10)),
            "length_m": 20.0,
            "heading_deg": float(rng.uniform(0, 180)),
            "sigma0": 8.0,
        }
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("base")
    rng = np.random.default_rng(3)
    paths = []
    for d, date in enumerate(DATES):
        scene = make_sar_scene(
            folder / f"base_{date}.tif",
            width=360,
            height=360,
            ships=_vehicles(rng, 12 if d in BUSY else 1),
            land=False,
            seed=80 + d,
            date=date,
            center=CENTER,
        )
        paths.append(scene.path)
    return paths


def _polygon(ws: Workspace, site: str, box: tuple[int, int]) -> dict:
    first = list_scenes(ws, site)[0]
    lo, hi = box
    lon, lat = geo.pixel_to_lonlat(
        first.crs, first.transform, np.array([lo, hi, hi, lo, lo]), np.array([lo, lo, hi, hi, lo])
    )
    return {"type": "Polygon", "coordinates": [[[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]]}


@pytest.fixture
def base(tmp_path: Path, scenes: list[Path]) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    add_site(ws, "base", point=CENTER, radius_m=3000)
    for p in scenes:
        add_scene(ws, p, site="base", modality="SAR")
    yield ws
    ws.close()


def test_activity_of_a_stored_area_rises_on_the_busy_date_only(base: Workspace) -> None:
    area = add_area(base, "base", "vehicle park", _polygon(base, "base", PARK))
    add_area(base, "base", "empty field", _polygon(base, "base", (240, 340)))
    assert [a.name for a in list_areas(base, "base")] == ["empty field", "vehicle park"]
    assert area.geometry["type"] == "Polygon"
    report = site_activity(base, "base")
    assert report.dates == DATES and report.baseline_dates == DATES[:3]
    park = report.areas["vehicle park"]["series"]
    for d in range(3, len(DATES)):
        assert park[d]["gathering"] == (d in BUSY), park[d]
    assert park[4]["z"] > 5
    assert max(abs(p["z"]) for p in report.areas["empty field"]["series"]) < 3
    assert [(g["area"], g["date"]) for g in report.gatherings()] == [("vehicle park", DATES[4])]
    summary = activity_summary(base, "base", claim_dates=["2026-05-20"])
    assert summary["error"] is None and summary["gatherings"][0]["date"] == DATES[4]


def test_bad_areas_are_refused_by_name(base: Workspace) -> None:
    with pytest.raises(ValidationError, match="polygon"):
        add_area(base, "base", "line", {"type": "LineString", "coordinates": [[0, 0], [1, 1]]})
    with pytest.raises(NotFoundError, match="nowhere"):
        add_area(base, "nowhere", "park", _polygon(base, "base", PARK))
    add_area(base, "base", "park", _polygon(base, "base", PARK))
    with pytest.raises(ConflictError, match="park"):
        add_area(base, "base", "park", _polygon(base, "base", PARK))
    assert len(list_areas(base, "base")) == 1  # nothing half-stored


def test_activity_needs_areas_and_enough_dates(tmp_path: Path, scenes: list[Path]) -> None:
    ws = Workspace(tmp_path / "ws")
    add_site(ws, "small", point=CENTER, radius_m=3000)
    for p in scenes[:3]:
        add_scene(ws, p, site="small", modality="SAR")
    with pytest.raises(ValidationError, match="no areas of interest"):
        site_activity(ws, "small")
    add_area(ws, "small", "park", _polygon(ws, "small", PARK))
    with pytest.raises(ValidationError, match="more than 3 dated scenes"):
        site_activity(ws, "small")
    assert "more than 3" in activity_summary(ws, "small")["error"]
    ws.close()


def test_claim_dates() -> None:
    assert parse_claim_dates("2024-10-08/2024-10-13") == ["2024-10-08", "2024-10-13"]
    assert parse_claim_dates("2024-10-08") == ["2024-10-08"] and parse_claim_dates(None) == []
    with pytest.raises(ValidationError, match="claim dates"):
        parse_claim_dates("2024-13-40")


def test_scene_overlay_is_the_scene_on_a_lonlat_grid(base: Workspace) -> None:
    from shapely.geometry import box, shape

    from imint.sites.overlay import overlay_bounds, scene_overlay

    scene = list_scenes(base, "base")[0]
    over = scene_overlay(scene, max_side=256)
    assert over.bounds == overlay_bounds(scene, max_side=256)
    (s, w), (n, e) = over.bounds
    rgba = over.rgba
    cell = max((n - s) / rgba.shape[0], (e - w) / rgba.shape[1])
    fw, fs, fe, fn = shape(scene.footprint).bounds
    # The warped grid holds the scene to within one of its own pixels (the grid is rounded to whole pixels).
    assert max(abs(w - fw), abs(s - fs), abs(e - fe), abs(n - fn)) < cell
    assert box(w, s, e, n).area < shape(scene.footprint).area * 1.1  # a UTM square is nearly lon/lat
    assert rgba.shape[2] == 4 and (rgba[..., 3] == 255).mean() > 0.85 and rgba[..., 0].std() > 10
    png = Image.open(__import__("io").BytesIO(over.png()))
    assert png.mode == "RGBA" and png.size == (rgba.shape[1], rgba.shape[0])


def test_area_and_activity_commands(tmp_path: Path, scenes: list[Path]) -> None:
    ws = str(tmp_path / "ws")
    r = runner.invoke(app, ["sites", "add", "base", "--point", f"{CENTER[0]},{CENTER[1]}", "-w", ws])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["scenes", "add", *map(str, scenes), "--site", "base", "--modality", "SAR", "-w", ws]
    )
    assert r.exit_code == 0, r.output
    w = Workspace(ws)
    poly = tmp_path / "park.geojson"
    poly.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": _polygon(w, "base", PARK)}]}))  # fmt: skip
    w.close()
    r = runner.invoke(app, ["sites", "area", "add", "base", "vehicle park", "--polygon", str(poly), "-w", ws])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["sites", "area", "list", "base", "--json", "-w", ws])
    assert [a["name"] for a in json.loads(r.stdout)] == ["vehicle park"]
    bad = tmp_path / "bad.geojson"
    bad.write_text("{nope")
    r = runner.invoke(app, ["sites", "area", "add", "base", "x", "--polygon", str(bad), "-w", ws])
    assert r.exit_code != 0 and "bad.geojson" in r.output
    out_json, out_png = tmp_path / "activity.json", tmp_path / "activity.png"
    r = runner.invoke(
        app,
        ["activity", "base", "--json", str(out_json), "--chart", str(out_png),
         "--claim-dates", "2026-05-19/2026-05-23", "-w", ws],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "GATHERING" in r.output and f"vehicle park {DATES[4]}" in r.output
    data = json.loads(out_json.read_text())
    assert data["claim_dates"] == ["2026-05-19", "2026-05-23"]
    assert [g["date"] for g in data["gatherings"]] == [DATES[4]]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_activity_series_is_cached_and_invalidated_by_scenes_and_areas(
    base: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imint.sites import activity

    calls: list[int] = []
    real = activity.activity_series

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(activity, "activity_series", counting)
    add_area(base, "base", "vehicle park", _polygon(base, "base", PARK))
    first = site_activity(base, "base")
    again = site_activity(base, "base")
    summary = activity_summary(base, "base")  # what the site page calls
    assert len(calls) == 1  # computed once, then read back
    assert again.to_dict() == first.to_dict() and summary["activity"] == first.to_dict()
    assert summary["gatherings"][0]["date"] == DATES[4]
    cache = base.path / "cache" / "activity"
    assert len(list(cache.glob("site*.json"))) == 1

    add_area(base, "base", "empty field", _polygon(base, "base", (240, 340)))  # a new area: recomputed
    assert set(site_activity(base, "base").areas) == {"vehicle park", "empty field"} and len(calls) == 2
    extra = make_sar_scene(
        tmp_path / "base_2026-05-31.tif",
        width=360,
        height=360,
        n_ships=1,
        land=False,
        seed=99,
        date="2026-05-31",
        center=CENTER,
    )
    add_scene(base, extra.path, site="base", modality="SAR")  # a new date: recomputed
    assert site_activity(base, "base").dates == [*DATES, "2026-05-31"] and len(calls) == 3
    site_activity(base, "base")
    assert len(calls) == 3
    (entry,) = cache.glob("site*.json")  # older entries of the site were dropped
    entry.write_text("{not json")  # a damaged entry is recomputed, not served
    assert site_activity(base, "base").dates[-1] == "2026-05-31" and len(calls) == 4


def test_stored_area_outside_the_scenes_is_named_and_nothing_is_lost(base: Workspace) -> None:
    add_area(base, "base", "vehicle park", _polygon(base, "base", PARK))
    far = {
        "type": "Polygon",
        "coordinates": [[[131.99, 43.83], [132.0, 43.83], [132.0, 43.84], [131.99, 43.83]]],
    }
    add_area(base, "base", "far depot", far)  # about 4 km from the 3.6 km scenes
    summary = activity_summary(base, "base")
    assert (
        summary["activity"] is None
        and "far depot" in summary["error"]
        and "outside the scene" in summary["error"]
    )
    assert [a.name for a in list_areas(base, "base")] == ["far depot", "vehicle park"]
    assert len(list_scenes(base, "base")) == len(DATES)
