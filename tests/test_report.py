"""The case report: self-contained HTML, opened in headless Chromium, printed to PDF, rendered to PNG."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from skimage import data

from imint import cases
from imint.cases.report import build_report
from imint.faces.tables import FaceRow, Match, Person
from imint.report.browser import Chromium, find_chromium
from imint.workspace import Workspace


def need(tool):
    """Chromium and pdftoppm come from `make install` (Debian packages); CI must have them."""
    if shutil.which(tool) is None and not (tool == "chromium" and os.environ.get("IMINT_CHROMIUM")):
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: `make install` installs it")
        pytest.skip(f"{tool} not installed (run `make install`)")


def make_simulated_scene(path):
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(0)
    band = rng.gamma(1.0, 0.05, (200, 300)).astype(np.float32)
    band[80:90, 100:160] += 2.0  # a bright ship-like blob
    profile = dict(driver="GTiff", width=300, height=200, count=1, dtype="float32", crs="EPSG:4326",
                   transform=Affine(0.0005, 0, 129.70, 0, -0.0005, 41.85))  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(band, 1)
        ds.update_tags(SIMULATED="yes", ACQUISITION_TIME="2024-10-07T21:30:00Z")
    return path


@pytest.fixture
def report_ws(tmp_path):
    ws = Workspace(tmp_path / "ws", user="analyst")
    cases.create_case(ws, "demo", title="Troops <case>", summary="Which claims hold?")
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    scene = make_simulated_scene(tmp_path / "port_SIMULATED.tif")
    shipped = cases.add_claim(
        ws, "demo", "1,500 troops shipped to Vladivostok", source="NIS", reliability="B", credibility=2,
        figure="1500 troops", quantity="troops sent", dates="2024-10-08/2024-10-13", places=["Vladivostok"],
        published_on="2024-10-18",
    )  # fmt: skip
    agency = cases.add_claim(
        ws, "demo", "12,000 already dispatched", source="Agency", reliability="C", credibility=4,
        figure="12000 troops", quantity="troops sent", published_on="2024-10-18",
    )  # fmt: skip
    photo_ev = cases.add_evidence(ws, "demo", [photo], source="scikit-image, NASA public domain")[0]
    scene_ev = cases.add_evidence(ws, "demo", [scene], source="simulated by the test")[0]
    cases.link_claim(ws, shipped.id, "supports", evidence=scene_ev.sha256, note="ship at the pier <b>")
    # Face records as the face part stores them: one candidate, one confirmed by a person.
    with ws.session() as s:
        person = Person(name="Eileen Collins")
        s.add(person)
        s.flush()
        face = FaceRow(evidence_sha256=photo_ev.sha256, x1=170, y1=40, x2=290, y2=190, landmarks=[[0, 0]] * 5,
                       det_score=0.98, quality=0.9, quality_reason="good", model_id="test-model")  # fmt: skip
        s.add(face)
        s.flush()
        candidate = Match(face_id=face.id, person_id=person.id, score=0.71, fmr=1e-4, rank=1,
                          operating_point="fpir=0.01")  # fmt: skip
        s.add(candidate)
        s.flush()
        match_id = candidate.id
    cases.link_claim(ws, agency.id, "context", record=("match", match_id), note="stand-in face")
    yield ws
    ws.close()


def test_html_report_is_self_contained_and_complete(report_ws, tmp_path):
    paths = build_report(report_ws, "demo", html_path=tmp_path / "r.html", pdf=False)
    assert paths.pdf is None
    html = paths.html.read_text()
    # Self-contained: every picture is inlined, nothing is fetched.
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert "http://" not in html.replace("http://www.w3.org", "") and "file://" not in html
    # Content: claims with grading, figures compared, evidence, custody, method.
    for text in ("1,500 troops shipped to Vladivostok", "12,000 troops", "B2", "C4", "Figures compared",
                 "Vladivostok", "43.10562", "Custody log", "Method", "Timeline"):  # fmt: skip
        assert text in html, text
    assert "Troops &lt;case&gt;" in html and "ship at the pier &lt;b&gt;" in html  # escaped, not injected
    assert "SIMULATED" in html  # the simulated scene is labelled wherever it appears
    assert "Eileen Collins" in html and "1.0e-04 (about 1 in 10,000)" in html
    assert "Not reviewed by a person" in html
    assert "corroborated" in html  # the machine's proposal for the claim with supporting evidence
    assert "1 supporting link(s), none contradicting; the supporting evidence is SIMULATED" in html
    assert "2 of 2 stored originals re-hashed and matching" in " ".join(html.split())


def test_confirmed_candidates_are_told_apart_from_machine_findings(report_ws, tmp_path):
    with report_ws.session() as s:
        m = s.query(Match).one()
        m.status, m.decided_by, m.decided_at = "confirmed", "reviewer", "2024-10-20T10:00:00Z"
    html = build_report(report_ws, "demo", html_path=tmp_path / "r.html", pdf=False).html.read_text()
    assert "Confirmed as Eileen Collins by reviewer on 2024-10-20T10:00:00Z" in html
    assert "Not reviewed by a person" not in html


def test_building_a_report_is_recorded_in_custody(report_ws, tmp_path):
    build_report(report_ws, "demo", html_path=tmp_path / "r.html", pdf=False)
    log = cases.custody_log(report_ws)
    assert {e.action for e in log} >= {"added", "linked", "verified", "exported"}
    exported = [e for e in log if e.action == "exported"]
    assert len(exported) == 2 and exported[0].details["report"] == [str(tmp_path / "r.html")]


def test_report_flags_a_tampered_original(report_ws, tmp_path):
    ev = cases.case_evidence(report_ws, "demo")[0][0]
    path = report_ws.object_path(ev.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes() + b"x")
    html = build_report(report_ws, "demo", html_path=tmp_path / "r.html", pdf=False).html.read_text()
    assert "1 FAILED" in html and "modified" in html


def test_console_check_catches_a_broken_page(tmp_path):
    need("chromium")
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><img src="missing.png"><script>console.error("boom"); nope();</script>')
    with Chromium() as browser:
        errors = browser.open(page).errors
    assert any("boom" in e for e in errors)
    assert any("nope is not defined" in e for e in errors)
    assert any("missing.png" in e for e in errors)


def test_report_opens_in_chromium_without_console_errors(report_ws, tmp_path):
    need("chromium")
    html = build_report(report_ws, "demo", html_path=tmp_path / "r.html", pdf=False).html
    with Chromium(find_chromium()) as browser:
        result = browser.open(html)
        shot = browser.screenshot(tmp_path / "report.png")
    assert result.errors == []
    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape[1] == 1280 and img.shape[0] > 2000  # the whole page, not just the first screen
    assert img.std() > 20  # text and pictures, not a blank page


def test_pdf_renders_to_png_pages(report_ws, tmp_path):
    need("chromium")
    need("pdftoppm")
    paths = build_report(report_ws, "demo", html_path=tmp_path / "r.html", pdf_path=tmp_path / "r.pdf")
    assert paths.console_errors == []
    assert paths.pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(paths.pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    first = np.asarray(Image.open(pages[0]).convert("L"))
    assert first.shape[0] > first.shape[1]  # A4 portrait
    assert (first < 128).mean() > 0.01  # there is ink on the page
