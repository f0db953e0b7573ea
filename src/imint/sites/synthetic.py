"""Simulated Sentinel-1-like SAR scenes with known ships: for tests, benchmarks and demo cases.

A scene is a georeferenced GeoTIFF (UTM, north up) of amplitude DN (uint16, like a GRD product):

* sea: low backscatter with slow wind streaks; land: a coastline from smooth noise, brighter and
  textured, with strong point scatterers (harbour cranes, buildings) that fool naive detectors;
* ships: bright rotated rectangles, 2-30 px long at 10 m pixels, with the truth box of each;
* speckle: multiplicative Gamma noise of ``looks`` looks (GRD IW is about 4.4).

Every file is tagged ``SIMULATED`` so it cannot be mistaken for a real acquisition. The scene is
written in row blocks, so a full 25,000 x 16,000 px scene takes little memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from imint.sites.geo import pixel_to_lonlat, utm_crs_for

SIMULATED_TAG = "yes: synthetic scene made by imint.sites.synthetic, not a real acquisition"
DN_SCALE = 700.0  # amplitude DN = sqrt(sigma0 * speckle) * DN_SCALE
COARSE = 16  # the land field is drawn at 1/16 resolution and upsampled


@dataclass
class SyntheticScene:
    """The file written and its ground truth (boxes in pixels, exclusive x2/y2; centres in lon/lat)."""

    path: Path
    width: int
    height: int
    pixel_size_m: float
    crs: str | None
    transform: tuple[float, ...] | None
    date: str | None
    boxes: np.ndarray
    ships: list[dict[str, float]] = field(default_factory=list)
    lonlat: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    land_fraction: float = 0.0

    def __len__(self) -> int:
        return len(self.boxes)


def _land_score(width: int, height: int, land_seed: int, land: bool | float) -> np.ndarray:
    """Coarse land score (> 0 is land): a wavy coast across the west of the scene, with a bay."""
    cw, ch = max(2, math.ceil(width / COARSE)), max(2, math.ceil(height / COARSE))
    if not land:
        return np.full((ch, cw), -1.0, np.float32)
    share = 0.3 if land is True else float(land)
    rng = np.random.default_rng(land_seed)
    noise = cv2.GaussianBlur(rng.standard_normal((ch, cw)).astype(np.float32), (0, 0), max(cw, ch) / 25)
    noise /= max(float(noise.std()), 1e-6)
    x = np.linspace(0, 1, cw, dtype=np.float32)[None, :]
    score = (share - x) * 6 + 0.6 * noise
    yy, xx = np.mgrid[0:ch, 0:cw]
    bay = 1 - (((yy - ch * 0.5) / (ch * 0.12)) ** 2 + ((xx - cw * share) / (cw * 0.1)) ** 2)
    return np.minimum(score, -bay).astype(np.float32)


def _land_field(width: int, height: int, land_seed: int, land: bool | float) -> np.ndarray:
    """Coarse land (True) / sea grid."""
    return _land_score(width, height, land_seed, land) > 0


def _place_ships(
    land: np.ndarray, width: int, height: int, n: int, px: float, rng: np.random.Generator
) -> list[dict[str, float]]:
    # Water at least ~3 coarse cells from land, so ships float and truth boxes are clean.
    water = cv2.erode((~land).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    ships: list[dict[str, float]] = []
    tries = 0
    while len(ships) < n and tries < n * 200:
        tries += 1
        col, row = rng.uniform(40, width - 40), rng.uniform(40, height - 40)
        if not water[min(int(row / COARSE), water.shape[0] - 1), min(int(col / COARSE), water.shape[1] - 1)]:
            continue
        length = float(np.exp(rng.uniform(np.log(40), np.log(300))))
        if any(
            math.hypot(s["col"] - col, s["row"] - row) * px < 3 * max(length, s["length_m"]) for s in ships
        ):
            continue
        ships.append(
            {
                "col": col,
                "row": row,
                "length_m": length,
                "heading_deg": float(rng.uniform(0, 180)),
                "sigma0": float(np.exp(rng.uniform(np.log(3), np.log(40)))),
            }
        )
    return ships


def _ship_polygon(ship: dict[str, float], px: float) -> np.ndarray:
    length = ship["length_m"] / px
    beam = max(ship.get("width_m", ship["length_m"] / 6) / px, 1.0)
    t = math.radians(ship["heading_deg"])
    u, v = np.array([math.sin(t), -math.cos(t)]), np.array([math.cos(t), math.sin(t)])
    c = np.array([ship["col"], ship["row"]])
    return np.array(
        [
            c + u * length / 2 + v * beam / 2,
            c + u * length / 2 - v * beam / 2,
            c - u * length / 2 - v * beam / 2,
            c - u * length / 2 + v * beam / 2,
        ]
    )


def _box(poly: np.ndarray, width: int, height: int) -> list[float]:
    x1, y1 = np.floor(poly.min(axis=0))
    x2, y2 = np.ceil(poly.max(axis=0))
    return [max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)]


def _georeference(
    center: tuple[float, float], width: int, height: int, pixel_size_m: float
) -> tuple[str, Any]:
    """The UTM zone of ``center`` and a north-up transform that puts ``center`` mid-scene."""
    from pyproj import Transformer
    from rasterio.transform import Affine

    crs = utm_crs_for(*center)
    e, n = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*center)
    transform = Affine(
        pixel_size_m, 0, e - width / 2 * pixel_size_m, 0, -pixel_size_m, n + height / 2 * pixel_size_m
    )
    return crs, transform


def _geotiff_profile(width: int, height: int, crs: str | None, transform: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint16",
        "compress": "deflate",
        "predictor": 2,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "BIGTIFF": "IF_SAFER",
    }
    if crs is not None:
        profile.update(crs=crs, transform=transform)
    return profile


def _scene_tags(seed: int, date: str | None, tags: dict[str, str] | None) -> dict[str, str]:
    """What the file says about itself: SAR amplitude, the sensor it imitates, SIMULATED, its date."""
    return {
        "MODALITY": "SAR",
        "SAR_QUANTITY": "amplitude",
        "SENSOR": "simulated Sentinel-1-like IW GRD",
        "SIMULATED": SIMULATED_TAG,
        "IMINT_SYNTHETIC_SEED": str(seed),
        **(
            {"ACQUISITION_DATE": date, "TIFFTAG_DATETIME": date.replace("-", ":") + " 00:00:00"}
            if date
            else {}
        ),
        **(tags or {}),
    }


@dataclass
class _Clutter:
    """Backscatter fields of a scene: coarse sea wind and land texture, and point scatterers on land."""

    wind: np.ndarray
    texture: np.ndarray
    scatterer_rc: np.ndarray  # (n, 2) row, col in full-resolution pixels
    scatterer_sigma: np.ndarray


def _clutter(coarse_land: np.ndarray, rng: np.random.Generator) -> _Clutter:
    # Low-frequency sea clutter (wind) and land texture, drawn coarse then upsampled per block.
    cw, ch = coarse_land.shape[1], coarse_land.shape[0]
    wind = 0.02 * np.exp(
        0.35 * cv2.GaussianBlur(rng.standard_normal((ch, cw)).astype(np.float32), (0, 0), 6) * 3
    )
    texture = 0.12 * np.exp(
        0.8 * cv2.GaussianBlur(rng.standard_normal((ch, cw)).astype(np.float32), (0, 0), 1.5) * 2
    )
    # Strong point scatterers (cranes, buildings) well inside the land, never on the water.
    land_cells = np.argwhere(cv2.erode(coarse_land.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    n_scatterers = int(len(land_cells) * 0.8)
    scat = (
        land_cells[rng.integers(0, max(len(land_cells), 1), n_scatterers)]
        if len(land_cells)
        else np.zeros((0, 2))
    )
    scat_rc = (scat + rng.uniform(0, 1, scat.shape)) * COARSE
    scat_sigma = np.exp(rng.uniform(np.log(2), np.log(60), len(scat_rc)))
    return _Clutter(wind, texture, scat_rc, scat_sigma)


def _sigma0_block(
    y0: int,
    y1: int,
    width: int,
    land_score: np.ndarray,
    clutter: _Clutter,
    ships: list[dict[str, float]],
    polys: list[np.ndarray],
    ship_ids: list[int],
) -> np.ndarray:
    """Backscatter (sigma0) of rows ``y0:y1`` before speckle: sea or land, scatterers, then ships."""
    # Bilinear upsampling of the coarse fields onto this block's rows.
    rows = (np.arange(y0, y1) + 0.5) / COARSE - 0.5
    cols = (np.arange(width) + 0.5) / COARSE - 0.5
    map_x = np.broadcast_to(cols[None, :], (y1 - y0, width)).astype(np.float32)
    map_y = np.broadcast_to(rows[:, None], (y1 - y0, width)).astype(np.float32)

    def up(coarse: np.ndarray) -> np.ndarray:
        return cv2.remap(coarse, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    # The coast is thresholded at full resolution, so it is smooth, not blocky.
    sigma0 = np.where(up(land_score) > 0, up(clutter.texture), up(clutter.wind)).astype(np.float32)
    in_block = (clutter.scatterer_rc[:, 0] >= y0) & (clutter.scatterer_rc[:, 0] < y1)
    for (r, c), s in zip(clutter.scatterer_rc[in_block], clutter.scatterer_sigma[in_block], strict=True):
        sigma0[int(r) - y0, min(int(c), width - 1)] = s
    for i in ship_ids:
        mask = np.zeros((y1 - y0, width), np.uint8)
        cv2.fillPoly(mask, [np.round((polys[i] - [0, y0]) * 16).astype(np.int32)], 1, cv2.LINE_AA, shift=4)
        sigma0[mask > 0] = ships[i].get("sigma0", 15.0)
    return sigma0


def _ships_by_block(polys: list[np.ndarray], height: int, block_rows: int) -> list[list[int]]:
    """For each block of ``block_rows`` rows, the ships whose outline reaches into it."""
    owners: list[list[int]] = [[] for _ in range(math.ceil(height / block_rows))]
    for i, p in enumerate(polys):
        r0, r1 = int(max(p[:, 1].min() - 2, 0)), int(min(p[:, 1].max() + 2, height - 1))
        for b in range(r0 // block_rows, r1 // block_rows + 1):
            owners[b].append(i)
    return owners


def make_sar_scene(
    path: str | Path,
    *,
    width: int = 1024,
    height: int = 1024,
    pixel_size_m: float = 10.0,
    center: tuple[float, float] = (131.90, 43.08),
    n_ships: int = 12,
    ships: list[dict[str, float]] | None = None,
    land: bool | float = True,
    seed: int = 0,
    land_seed: int | None = None,
    date: str | None = "2026-03-01",
    looks: float = 4.4,
    georeferenced: bool = True,
    block_rows: int = 512,
    tags: dict[str, str] | None = None,
) -> SyntheticScene:
    """Write a simulated SAR GeoTIFF at ``path`` and return its ground truth.

    ``center`` is (lon, lat) of the scene centre (default: Vladivostok's Golden Horn approaches).
    ``ships`` places given ships (dicts with ``col``, ``row`` in pixels, ``length_m``, ``heading_deg``,
    optional ``sigma0``) instead of ``n_ships`` random ones; ``land_seed`` fixes the coastline apart
    from the ships, so two dates of one port share their land. ``georeferenced=False`` writes a GeoTIFF
    without CRS (pixel mode).
    """
    import rasterio

    path = Path(path)
    # One generator, drawn from in a fixed order (ships, then clutter), so a seed gives the same bytes.
    rng = np.random.default_rng(seed)
    land_seed = seed if land_seed is None else land_seed
    land_score = _land_score(width, height, land_seed, land)
    coarse_land = land_score > 0
    if ships is None:
        ships = _place_ships(coarse_land, width, height, n_ships, pixel_size_m, rng)
    polys = [_ship_polygon(s, pixel_size_m) for s in ships]
    boxes = np.array([_box(p, width, height) for p in polys], np.float32).reshape(-1, 4)
    crs, transform = _georeference(center, width, height, pixel_size_m) if georeferenced else (None, None)
    clutter = _clutter(coarse_land, rng)
    owners = _ships_by_block(polys, height, block_rows)
    with rasterio.open(path, "w", **_geotiff_profile(width, height, crs, transform)) as ds:
        ds.update_tags(**_scene_tags(seed, date, tags))
        for b, y0 in enumerate(range(0, height, block_rows)):
            y1 = min(y0 + block_rows, height)
            sigma0 = _sigma0_block(y0, y1, width, land_score, clutter, ships, polys, owners[b])
            speckle = (
                np.random.default_rng([seed, b]).gamma(looks, 1.0 / looks, sigma0.shape).astype(np.float32)
            )
            dn = np.sqrt(sigma0 * speckle) * DN_SCALE
            ds.write(np.clip(dn, 1, 65535).astype(np.uint16)[None], window=((y0, y1), (0, width)))

    lonlat = np.zeros((len(ships), 2))
    if georeferenced and len(ships):
        lon, lat = pixel_to_lonlat(
            crs,
            tuple(transform)[:6],
            np.array([s["col"] for s in ships]),
            np.array([s["row"] for s in ships]),
        )
        lonlat = np.stack([lon, lat], 1)
    return SyntheticScene(
        path=path,
        width=width,
        height=height,
        pixel_size_m=pixel_size_m,
        crs=crs,
        transform=tuple(transform)[:6] if transform is not None else None,
        date=date,
        boxes=boxes,
        ships=[dict(s) for s in ships],
        lonlat=lonlat,
        land_fraction=float(coarse_land.mean()),
    )


def make_port_pair(
    folder: str | Path,
    *,
    dates: tuple[str, str] = ("2026-03-01", "2026-03-08"),
    width: int = 1024,
    height: int = 1024,
    n_ships: int = 14,
    departures: int = 4,
    arrivals: int = 5,
    seed: int = 7,
    center: tuple[float, float] = (131.90, 43.08),
) -> tuple[SyntheticScene, SyntheticScene, dict[str, list[int]]]:
    """A simulated port on two dates: same coast, some ships leave, some arrive, the rest stay.

    Returns both scenes and the truth: indices into the first scene's ships (``stayed``,
    ``departed``) and into the second scene's ships (``arrived``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    first = make_sar_scene(
        folder / f"port_{dates[0]}.tif",
        width=width,
        height=height,
        n_ships=n_ships,
        seed=seed,
        land_seed=seed,
        date=dates[0],
        center=center,
    )
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(first.ships))
    departed = sorted(int(i) for i in order[:departures])
    stayed = sorted(int(i) for i in order[departures:])
    kept = [dict(first.ships[i]) for i in stayed]
    for s in kept:  # ships at anchor swing a little between dates
        s["col"] += float(rng.uniform(-1.5, 1.5))
        s["row"] += float(rng.uniform(-1.5, 1.5))
    land = _land_field(width, height, seed, True)
    extra = _place_ships(land, width, height, len(kept) + arrivals, first.pixel_size_m, rng)
    new = [
        s
        for s in extra
        if all(
            math.hypot(s["col"] - k["col"], s["row"] - k["row"]) * first.pixel_size_m
            > 3 * max(s["length_m"], k["length_m"])
            for k in first.ships
        )
    ][:arrivals]
    second = make_sar_scene(
        folder / f"port_{dates[1]}.tif",
        width=width,
        height=height,
        ships=kept + new,
        seed=seed + 100,
        land_seed=seed,
        date=dates[1],
        center=center,
    )
    truth = {"stayed": stayed, "departed": departed, "arrived": list(range(len(kept), len(kept) + len(new)))}
    return first, second, truth
