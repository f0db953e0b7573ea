"""The sample case that `make run` builds: complete, labelled, safe to build twice, and it opens cleanly."""

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from imint import cases
from imint.demo import run_demo
from imint.demo.claims import CASE_NAME, CLAIMS
from imint.report.browser import Chromium
from imint.workspace import Workspace
from tests.db_support import query

TABLES = (
    "claims", "claim_places", "claim_links", "case_evidence", "evidence", "persons", "matches", "faces",
    "sites", "scenes", "ship_detections", "site_areas",
)  # fmt: skip


def counts(path):
    return {t: query(path, f"select count(*) from {t}")[0][0] for t in TABLES}  # noqa: S608


def need(tool):
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: `make install` installs it")
        pytest.skip(f"{tool} not installed (run `make install`)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ws_dir = tmp_path_factory.mktemp("demo") / "imint-demo"
    first = run_demo(ws_dir, pdf=shutil.which("chromium") is not None)
    return ws_dir, first


@pytest.mark.slow
def test_demo_builds_the_sample_case_and_is_rerunnable(demo):
    ws_dir, first = demo
    assert first.html == ws_dir.resolve() / "report.html" and first.html.exists()
    before = counts(ws_dir)
    second = run_demo(ws_dir, pdf=False)
    assert counts(ws_dir) == before  # nothing stored twice
    assert second.claim_ids == first.claim_ids

    ws = Workspace(ws_dir)
    claims = {c.text: c for c in cases.case_claims(ws, CASE_NAME)}
    assert len(claims) == len(CLAIMS)
    for spec in CLAIMS:
        claim = claims[spec["text"]]
        assert claim.reliability and claim.credibility and claim.grading_note  # every grade is justified
    troops = {g.quantity: g for g in cases.quantity_groups(claims.values())}[
        "North Korean troops sent to Russia"
    ]
    assert sorted(c.value_high for c in troops.claims) == [1500, 10000, 12000, 12000]
    places = {p.resolved_name: p for c in claims.values() for p in c.places}
    assert {"Vladivostok", "Ussuriysk", "Khabarovsk", "Blagoveshchensk", "Donetsk"} <= set(places)
    assert places["Donetsk"].country_code == "UA" and places["Blagoveshchensk"].lon > 120

    # Face search ran on the stand-in photos: Grace Hopper is a candidate, never an identification.
    officers = next(c for c in claims.values() if "Donetsk" in c.text)
    assert {link.record_type for link in officers.links} == {"candidate", "face"}
    assert all(link.relation == "context" for link in officers.links)

    # Ship and change detection ran on the SIMULATED port scenes, linked with notes that say so.
    shipped = next(c for c in claims.values() if "1,500" in c.text)
    (change,) = [link for link in shipped.links if link.record_type == "change"]
    assert change.relation == "supports" and change.note.startswith("SIMULATED")
    imagery = next(c for c in claims.values() if "released satellite" in c.text)
    assert [link.record_type for link in imagery.links] == ["scene", "scene"]

    # The SIMULATED base: a vehicle park whose activity series shows the gathering on the claim dates.
    training = next(c for c in claims.values() if "uniforms" in c.text)
    (activity,) = [link for link in training.links if link.record_type == "activity"]
    assert activity.relation == "context" and activity.note.startswith("SIMULATED")
    from imint.sites.areas import site_activity

    report = site_activity(ws, "ussuriysk-base-SIMULATED")
    assert sorted(g["date"] for g in report.gatherings()) == ["2024-10-09", "2024-10-12"]

    html = first.html.read_text()
    assert "Activity at ussuriysk-base-SIMULATED" in html and "vehicle park on 2024-10-09" in html
    assert "Map: the scene warped to longitude/latitude" in html
    assert "Stand-in photo" in html and "public domain" in html
    assert "Changes at vladivostok-port-SIMULATED, 2024-10-07 → 2024-10-14" in html
    assert html.count('class="badge sim">SIMULATED') >= 5  # banner, scene cards, change card, register
    assert "Grace Hopper" in html and "Not reviewed by a person" in html
    assert "matching their SHA-256" in " ".join(html.split())
    ws.close()


@pytest.mark.slow
def test_demo_report_opens_in_chromium_and_its_pdf_renders(demo, tmp_path):
    need("chromium")
    need("pdftoppm")
    _ws_dir, first = demo
    with Chromium() as browser:
        result = browser.open(first.html)
        shot = browser.screenshot(tmp_path / "demo-report.png")
    assert result.errors == []
    assert np.asarray(Image.open(shot).convert("L")).std() > 20

    assert first.pdf is not None and first.pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(first.pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) >= 5
    assert all(
        (np.asarray(Image.open(p).convert("L")) < 200).mean() > 0.005 for p in pages[:-1]
    )  # no blank page
