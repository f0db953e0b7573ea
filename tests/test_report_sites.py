"""Claims linked to the sites part's records: ship quicklooks and change maps in the report."""

import pytest

from imint import cases
from imint.cases.report import build_report
from imint.errors import NotFoundError
from imint.sites import add_scene, add_site, detect_ships
from imint.sites.synthetic import make_port_pair
from imint.workspace import Workspace


@pytest.fixture
def port_ws(tmp_path):
    ws = Workspace(tmp_path / "ws", user="analyst")
    cases.create_case(ws, "port", title="Port watch")
    make_port_pair(tmp_path / "scenes", dates=("2024-10-07", "2024-10-14"), width=512, height=512, n_ships=8,
                   departures=2, arrivals=3)  # fmt: skip
    add_site(ws, "harbour", point=(131.90, 43.08), radius_m=4000)
    scenes = []
    for day in ("2024-10-07", "2024-10-14"):
        scene = add_scene(ws, tmp_path / "scenes" / f"port_{day}.tif", site="harbour", modality="SAR")
        detect_ships(ws, scene)
        scenes.append(scene)
    yield ws, scenes
    ws.close()


def test_scene_and_change_records_link_and_render(port_ws, tmp_path):
    ws, (before, after) = port_ws
    claim = cases.add_claim(
        ws, "port", "ships arrived between 7 and 14 October", dates="2024-10-07/2024-10-14"
    )
    scene_link = cases.link_claim(ws, claim.id, "context", record=f"scene:{before.id}", note="before")
    change_link = cases.link_claim(ws, claim.id, "supports", record=f"change:{after.id}", note="arrivals")
    assert scene_link.evidence_sha256 == before.evidence_sha256
    assert change_link.evidence_sha256 == after.evidence_sha256
    with pytest.raises(NotFoundError):
        cases.link_claim(ws, claim.id, "supports", record="scene:999")

    html = build_report(ws, "port", html_path=tmp_path / "r.html", pdf=False).html.read_text()
    text = " ".join(html.split())
    assert "Ships in harbour on 2024-10-07" in text
    assert "Changes at harbour, 2024-10-07 → 2024-10-14" in text
    assert "green = arrived" in text and "Ships per date" in text
    assert "SIMULATED" in text  # the sites part tags its synthetic scenes; the report carries the label
    assert "Ship detection:" in text and "Change detection:" in text  # the method section names them
    assert "scene port_2024-10-14.tif" in text  # the scene is placed on the map from its georeference


def test_a_change_without_an_earlier_scene_says_so(port_ws, tmp_path):
    ws, (before, _after) = port_ws
    claim = cases.add_claim(ws, "port", "x")
    cases.link_claim(ws, claim.id, "context", record=("change", before.id))
    html = build_report(ws, "port", html_path=tmp_path / "r.html", pdf=False).html.read_text()
    assert "No earlier dated scene of harbour to compare with 2024-10-07" in html
