"""GPS on the case map: a photo given EXIF GPS and time here shows at its point with the right UTC time,
claimed places show, and a photo far from its claim's place draws a contradiction line (library, JSON
twin, case page, report)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from imint import cases
from imint.cases.casemap import case_map
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, jpeg_bytes, open_workspace
from tests.test_checks_metadata import exif_jpeg


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


def kyiv_photo(tmp_path: Path) -> Path:
    # Kyiv in summer is UTC+3 (EEST): 14:30 local is 11:30 UTC.
    return exif_jpeg(
        tmp_path / "kyiv.jpg",
        when="2024:07:10 14:30:00",
        lat=(50.0, 27.0, 0.0),
        lon=(30.0, 31.0, 24.0),
        lat_ref="N",
        lon_ref="E",
    )


def build_case(ws: Workspace, tmp_path: Path) -> dict:
    cases.create_case(ws, "kyiv", title="Kyiv in July")
    ev = cases.add_evidence(ws, "kyiv", [kyiv_photo(tmp_path)], source="test")[0]
    plain = tmp_path / "no-gps.jpg"
    plain.write_bytes(jpeg_bytes(astronaut()[:96, :96], 85))
    other = cases.add_evidence(ws, "kyiv", [plain], source="test")[0]
    near = cases.add_claim(ws, "kyiv", "Seen in Kyiv in July", source="A", dates="2024-07", places=["Kyiv"])
    far = cases.add_claim(ws, "kyiv", "Seen in Lviv in May", source="B", dates="2024-05", places=["Lviv"])
    cases.link_claim(ws, near.id, "supports", evidence=ev.sha256)
    cases.link_claim(ws, far.id, "supports", evidence=ev.sha256)
    return {"ev": ev, "other": other, "near": near, "far": far}


def by_kind(fc: dict, kind: str) -> list[dict]:
    return [f for f in fc["features"] if f["properties"]["kind"] == kind]


def test_photo_with_exif_gps_is_on_the_map_with_its_utc_time_and_contradiction(ws, tmp_path: Path) -> None:
    made = build_case(ws, tmp_path)
    fc = case_map(ws, "kyiv")
    photos = by_kind(fc, "photo")
    assert [p["properties"]["sha256"] for p in photos] == [made["ev"].sha256]  # the photo without GPS is not
    p = photos[0]
    assert p["geometry"]["coordinates"] == [pytest.approx(30.52333, abs=1e-4), pytest.approx(50.45, abs=1e-4)]
    props = p["properties"]
    assert props["capture_utc"] == "2024-07-10T11:30:00Z"
    assert props["capture_local"] == "2024-07-10T14:30:00" and props["time_zone"] == "Europe/Kyiv"
    assert props["url"] == f"/evidence/{made['ev'].sha256}" and props["check"].startswith("check:")
    # The far claim is contradicted on both counts, the near one on none.
    assert {(c["claim_id"], c["kind"]) for c in props["contradictions"]} == {
        (made["far"].id, "date"),
        (made["far"].id, "place"),
    }
    places = {f["properties"]["name"]: f for f in by_kind(fc, "claimed-place")}
    assert set(places) == {"Kyiv", "Lviv"}
    assert places["Lviv"]["properties"]["claims"][0]["id"] == made["far"].id
    (line,) = by_kind(fc, "contradiction")
    assert line["geometry"]["type"] == "LineString"
    assert line["geometry"]["coordinates"][0] == p["geometry"]["coordinates"]
    assert line["geometry"]["coordinates"][1] == places["Lviv"]["geometry"]["coordinates"]
    assert line["properties"]["claim_id"] == made["far"].id
    assert line["properties"]["distance_km"] == pytest.approx(468, abs=15)
    (south, west), (north, east) = fc["bounds"]
    assert south < 49.9 < 50.45 <= north and west < 24.1 < 30.5 <= east  # Lviv 49.84 N 24.02 E


def test_a_claim_without_a_link_to_the_photo_draws_no_line(ws, tmp_path: Path) -> None:
    cases.create_case(ws, "c")
    cases.add_evidence(ws, "c", [kyiv_photo(tmp_path)], source="test")
    cases.add_claim(ws, "c", "Seen in Lviv", source="B", dates="2024-05", places=["Lviv"])
    fc = case_map(ws, "c")
    assert by_kind(fc, "contradiction") == []
    assert by_kind(fc, "photo")[0]["properties"]["contradictions"] == []


def test_map_json_twin_case_json_and_case_page(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from imint.api.app import create_app
    from tests.api_support import make_users

    tokens = make_users(tmp_path / "site")
    with Workspace(tmp_path / "site", user="analyst") as w:
        made = build_case(w, tmp_path)
        case_id = cases.get_case(w, "kyiv").id
    with TestClient(create_app(tmp_path / "site")) as client:
        auth = {"Authorization": f"Bearer {tokens['viewer']}"}
        r = client.get(f"/cases/{case_id}/map.json", headers=auth)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        fc = r.json()
        assert fc["type"] == "FeatureCollection"
        assert by_kind(fc, "photo")[0]["properties"]["capture_utc"] == "2024-07-10T11:30:00Z"
        assert client.get(f"/cases/{case_id}/map", headers=auth).json() == fc
        assert client.get(f"/cases/{case_id}.json", headers=auth).json()["map"] == fc
        assert client.get("/cases/9999/map.json", headers=auth).status_code == 404
        assert client.get(f"/cases/{case_id}/map.json").status_code == 401
        page = client.get(f"/cases/{case_id}", headers={**auth, "Accept": "text/html"}).text
        assert 'id="case-map"' in page and "leaflet.js" in page
        data = re.search(r'<script type="application/json" id="case-map-data">(.*?)</script>', page, re.S)
        assert json.loads(data.group(1)) == fc
        assert "2024-07-10T11:30:00Z" in page and f"claim #{made['far'].id}" in page


def test_report_map_has_the_photo_its_times_and_the_contradiction(ws, tmp_path: Path) -> None:
    from imint.cases.report import build_report

    made = build_case(ws, tmp_path)
    html = build_report(ws, "kyiv", pdf=False).html.read_text()
    section = html[html.index('<section id="map">') : html.index('<section id="timeline">')]
    assert 'id="photo-places"' in section and "kyiv.jpg" in section
    assert "2024-07-10T11:30:00Z" in section and "2024-07-10T14:30:00" in section and "Europe/Kyiv" in section
    assert f"claim #{made['far'].id}" in section and "outside the claim" in section
    assert '<img class="chart" src="data:image/svg+xml;base64,' in section
    geo = re.search(r'<script type="application/geo\+json" id="places-geojson">(.*?)</script>', section, re.S)
    kinds = {f["properties"]["kind"] for f in json.loads(geo.group(1))["features"]}
    assert kinds == {"claimed-place", "photo", "contradiction"}
    assert "proof" in section  # says a contradiction is not proof


def test_a_claim_linking_the_metadata_check_gets_its_contradictions_on_the_card(ws, tmp_path: Path) -> None:
    from imint.cases.report import render_card

    made = build_case(ws, tmp_path)
    check_id = int(by_kind(case_map(ws, "kyiv"), "photo")[0]["properties"]["check"].split(":")[1])
    link = cases.link_claim(ws, made["far"].id, "context", record=f"check:{check_id}")
    card = render_card(ws, link, made["ev"])
    against = [m for m in card.machine if m.startswith(f"Against claim #{made['far'].id}")]
    assert len(against) == 2 and any("468 km" in m for m in against) and any("outside" in m for m in against)
    near_link = cases.link_claim(ws, made["near"].id, "supports", record=f"check:{check_id}")
    assert not any(m.startswith("Against") for m in render_card(ws, near_link, made["ev"]).machine)
