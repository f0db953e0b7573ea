"""Offline country borders (Natural Earth 1:10 m from an installed wheel) for the site map and report map."""

from __future__ import annotations

import pytest

from imint.errors import ValidationError
from imint.sites.borders import borders_geojson
from imint.sites.coastline import coastline_geojson
from tests.api_support import site  # noqa: F401 - pytest fixture

TUMEN = [[42.25, 130.35], [42.75, 130.95]]  # where Russia, China and North Korea meet on the Tumen river


def _pairs(gj: dict) -> set[str]:
    return {f["properties"]["between"] for f in gj["features"]}


def test_borders_where_three_countries_meet():
    gj = borders_geojson(TUMEN, margin_deg=0)
    assert _pairs(gj) == {"China | Dem. Rep. Korea", "China | Russia", "Dem. Rep. Korea | Russia"}
    for f in gj["features"]:
        g = f["geometry"]
        lines = g["coordinates"] if g["type"] == "MultiLineString" else [g["coordinates"]]
        for lon, lat in (p for line in lines for p in line):
            assert 130.35 - 1e-6 <= lon <= 130.95 + 1e-6 and 42.25 - 1e-6 <= lat <= 42.75 + 1e-6


def test_no_border_inside_one_country_or_at_sea():
    assert _pairs(borders_geojson([[43.0, 131.8], [43.2, 132.0]], margin_deg=0)) == set()  # Vladivostok
    assert _pairs(borders_geojson([[40.0, 135.0], [40.5, 135.5]], margin_deg=0)) == set()  # Sea of Japan


@pytest.mark.parametrize("layer, draw", [("borders", borders_geojson), ("coastlines", coastline_geojson)])
def test_too_large_or_empty_a_window_is_refused_by_name(layer, draw):  # noqa: ANN001
    with pytest.raises(ValidationError, match=layer) as too_large:
        draw([[30.0, 120.0], [45.0, 140.0]])
    assert too_large.value.subject == "bounds"
    with pytest.raises(ValidationError, match=layer):
        draw([[43.2, 131.8], [43.0, 132.0]], margin_deg=0)  # south above north


def test_site_map_offers_the_borders_layer(site):  # noqa: ANN001, F811
    r = site.client.post(
        "/sites",
        data={"name": "Tumen mouth", "lon": "130.65", "lat": "42.42", "radius_m": "8000"},
        headers=site.auth("analyst"),
    )
    assert r.status_code == 201, r.text
    page = site.client.get(f"/sites/{r.json()['id']}.json", headers=site.auth("viewer")).json()
    gj = site.client.get(page["map"]["borders_url"], headers=site.auth("viewer")).json()
    assert "China | Russia" in _pairs(gj) and "Dem. Rep. Korea | Russia" in _pairs(gj)
    assert all(f["properties"]["source"].startswith("Natural Earth") for f in gj["features"])
