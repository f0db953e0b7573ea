"""Cases over HTTP: a case, a graded claim, evidence linked to it, and the report."""

from __future__ import annotations

import shutil

import pytest

from tests.api_support import astronaut_jpeg, site  # noqa: F401 - pytest fixture


def test_case_claim_evidence_link_status_and_report(site):  # noqa: F811
    r = site.client.post(
        "/cases",
        data={"name": "collins-1999", "title": "Who commanded STS-93?"},
        headers=site.auth("analyst"),
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    r = site.client.post(
        f"/cases/{case_id}/claims",
        data={
            "text": "Eileen Collins commanded STS-93",
            "source": "NASA",
            "reliability": "A",
            "credibility": "2",
        },
        headers=site.auth("analyst"),
    )
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["grading"].startswith("A2")
    r = site.client.post(
        f"/cases/{case_id}/evidence",
        files=[("files", ("portrait.jpg", astronaut_jpeg(), "image/jpeg"))],
        data={"source": "NASA portrait", "note": "official portrait"},
        headers=site.auth("analyst"),
    )
    assert r.status_code == 201, r.text
    sha = r.json()["added"][0]["sha256"]
    r = site.client.post(
        f"/claims/{claim['id']}/links",
        data={"relation": "supports", "evidence": sha, "note": "uniform"},
        headers=site.auth("analyst"),
    )
    assert r.status_code == 201, r.text
    r = site.client.post(
        f"/claims/{claim['id']}/status", data={"status": "corroborated"}, headers=site.auth("analyst")
    )
    assert r.status_code == 200 and r.json()["status"] == "corroborated"
    assert r.json()["status_by"] == "analyst"

    page = site.client.get(f"/cases/{case_id}.json", headers=site.auth("viewer")).json()
    assert page["case"]["name"] == "collins-1999" and page["evidence"][0]["name"] == "portrait.jpg"
    assert page["claims"][0]["links"][0]["relation"] == "supports"

    report = site.client.get(f"/cases/{case_id}/report", headers=site.auth("viewer"))
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "Eileen Collins commanded STS-93" in report.text
    exports = [
        e for e in site.client.get("/audit.json?action=export", headers=site.auth("admin")).json()["entries"]
    ]
    assert exports[0]["actor"] == "viewer" and "collins-1999" in exports[0]["target"]

    missing_pdf = site.client.get(f"/cases/{case_id}/report/pdf", headers=site.auth("viewer"))
    assert missing_pdf.status_code == 404 and "PDF" in missing_pdf.json()["detail"]


def test_bad_case_values_are_named(site):  # noqa: F811
    r = site.client.post("/cases", data={"name": "has spaces"}, headers=site.auth("analyst"))
    assert r.status_code == 422 and "case name" in r.json()["detail"]
    case_id = site.client.post("/cases", data={"name": "c1"}, headers=site.auth("analyst")).json()["id"]
    r = site.client.post(
        f"/cases/{case_id}/claims", data={"text": "x", "reliability": "Z"}, headers=site.auth("analyst")
    )
    assert r.status_code == 422 and "reliab" in r.json()["detail"].lower()


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium (which prints the PDF) is not installed")
def test_the_pdf_report_is_built_as_a_job_and_downloaded(site):  # noqa: F811
    case_id = site.client.post(
        "/cases", data={"name": "pdf-case", "title": "PDF"}, headers=site.auth("analyst")
    ).json()["id"]
    r = site.client.post(f"/cases/{case_id}/report", data={"pdf": "true"}, headers=site.auth("analyst"))
    assert r.status_code == 202, r.text
    assert site.app.state.jobs.wait_idle(300)
    job = site.client.get(r.json()["job"], headers=site.auth("viewer")).json()["job"]
    assert job["status"] == "done", job
    assert job["result"]["pdf"] == "pdf-case-report.pdf"
    pdf = site.client.get(f"/cases/{case_id}/report/pdf", headers=site.auth("viewer"))
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    assert pdf.headers["content-disposition"].startswith("attachment")
