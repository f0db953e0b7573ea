"""Activity index per area over time: rises where the test adds vehicles, flat elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from imint.errors import BadInputError, ValidationError
from imint.sites import activity, geo
from imint.sites.synthetic import make_sar_scene

DATES = [f"2026-04-{d:02d}" for d in (1, 6, 11, 16, 21, 26, 30)]
BUSY = {4, 6}  # indices of the dates with a gathering at the depot
DEPOT = {"name": "depot", "pixels": [[100, 100], [220, 100], [220, 220], [100, 220]]}
QUIET = {"name": "quiet yard", "pixels": [[260, 260], [380, 260], [380, 380], [260, 380]]}


def _vehicles(rng: np.random.Generator, n: int) -> list[dict[str, float]]:
    return [
        {
            "col": float(rng.uniform(110, 210)),
            "row": float(rng.uniform(110, 210)),
            "length_m": 20.0,
            "heading_deg": float(rng.uniform(0, 180)),
            "sigma0": 8.0,
        }
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def sar_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[np.ndarray], list[Path]]:
    folder = tmp_path_factory.mktemp("activity")
    rng = np.random.default_rng(5)
    images, paths = [], []
    for d, date in enumerate(DATES):
        ships = _vehicles(rng, 12 if d in BUSY else 1)  # one vehicle always there; a dozen on busy days
        scene = make_sar_scene(
            folder / f"base_{date}.tif",
            width=400,
            height=400,
            ships=ships,
            land=False,
            seed=40 + d,
            date=date,
        )
        with rasterio.open(scene.path) as ds:
            images.append(ds.read(1).astype(np.float32))
        paths.append(scene.path)
    return images, paths


def test_sar_index_rises_at_the_gathering_and_stays_flat_elsewhere(sar_site: tuple, tmp_path: Path) -> None:
    images, _ = sar_site
    areas = activity.load_areas({"areas": [DEPOT, QUIET]}, shape=images[0].shape)
    report = activity.activity_series(images, DATES, areas, modality="sar", baseline_dates=3)
    depot, quiet = report.areas["depot"]["series"], report.areas["quiet yard"]["series"]
    for d in range(3, len(DATES)):
        assert depot[d]["gathering"] == (d in BUSY), (DATES[d], depot[d])
        assert not quiet[d]["gathering"], (DATES[d], quiet[d])
    busy = min(depot[d]["index"] for d in BUSY)
    calm = max(p["index"] for i, p in enumerate(depot) if i not in BUSY)
    assert busy > 3 * calm
    assert max(abs(p["z"]) for p in quiet) < 3
    assert [g["date"] for g in report.gatherings()] and {g["area"] for g in report.gatherings()} == {"depot"}
    png = report.chart_png(tmp_path / "activity.png", claim_dates=["2026-04-21"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_optical_index_rises_where_vehicles_are_added() -> None:
    from skimage import data

    base = data.astronaut().astype(np.float32)
    rng = np.random.default_rng(1)
    images = []
    for d in range(len(DATES)):
        gain, offset = rng.uniform(0.9, 1.1), rng.uniform(-5, 5)  # illumination varies by date
        im = base * gain + offset + rng.normal(0, 2.0, base.shape).astype(np.float32)
        n = 25 if d in BUSY else 2
        for _ in range(n):  # vehicles: bright 3 x 6 px roofs inside the depot
            r, c = rng.integers(110, 205), rng.integers(110, 205)
            im[r : r + 3, c : c + 6] = 250
        images.append(im)
    areas = activity.load_areas({"areas": [DEPOT, QUIET]}, shape=base.shape[:2])
    report = activity.activity_series(images, DATES, areas, modality="optical", baseline_dates=3)
    depot, quiet = report.areas["depot"]["series"], report.areas["quiet yard"]["series"]
    for d in range(3, len(DATES)):
        assert depot[d]["gathering"] == (d in BUSY), (DATES[d], depot[d])
        assert not quiet[d]["gathering"], (DATES[d], quiet[d])


def test_geojson_areas_map_to_the_same_pixels(sar_site: tuple) -> None:
    _, paths = sar_site
    images, info = activity.read_stack(paths[:4])
    cols, rows = np.array(DEPOT["pixels"], float).T
    lon, lat = geo.pixel_to_lonlat(info.crs, info.transform, cols, rows)
    ring = [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]
    gj = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "depot"},
                "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]},
            }
        ],
    }
    [from_geo] = activity.load_areas(gj, shape=images[0].shape, crs=info.crs, transform=info.transform)
    [from_px] = activity.load_areas({"areas": [DEPOT]}, shape=images[0].shape)
    assert from_geo.name == "depot"
    assert (from_geo.mask ^ from_px.mask).sum() <= 0.03 * from_px.pixels


def test_bad_input_names_the_area_or_file(sar_site: tuple, tmp_path: Path) -> None:
    images, paths = sar_site
    outside = {"areas": [{"name": "far away", "pixels": [[900, 900], [950, 900], [950, 950]]}]}
    f = tmp_path / "aoi.json"
    f.write_text(json.dumps(outside))
    with pytest.raises(BadInputError) as err:
        activity.load_areas(f, shape=images[0].shape)
    assert "far away" in str(err.value) and err.value.subject == str(f)
    with pytest.raises(BadInputError, match="not a readable"):
        bad = tmp_path / "bad.geojson"
        bad.write_text("{nope")
        activity.load_areas(bad, shape=images[0].shape)
    areas = activity.load_areas({"areas": [DEPOT]}, shape=images[0].shape)
    swapped = [DATES[0], DATES[2], DATES[1], *DATES[3:]]
    names = [p.name for p in paths]
    with pytest.raises(ValidationError) as err:
        activity.activity_series(images, swapped, areas, names=names)
    assert err.value.subject == names[2] and "out of order" in str(err.value)
    with pytest.raises(ValidationError, match="baseline"):
        activity.activity_series(images[:3], DATES[:3], areas)
    with pytest.raises(ValidationError, match="GeoJSON areas need"):
        activity.load_areas({"type": "FeatureCollection", "features": []}, shape=images[0].shape)
