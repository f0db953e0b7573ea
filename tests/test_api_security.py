"""Hostile input: wrong file types, oversized bodies, path traversal, SQL injection, XSS."""

from __future__ import annotations

import html

import pytest

from imint.api.uploads import safe_filename
from imint.faces.tables import Person
from imint.media.sniff import sniff_bytes, sniff_kind
from imint.workspace import Workspace
from tests.api_support import astronaut_jpeg, site  # noqa: F401 - pytest fixture
from tests.db_support import query

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _evidence_count(site) -> int:  # noqa: ANN001, F811
    return query(site.workspace, "SELECT count(*) FROM evidence")[0][0]


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image"),
        (b"\x00\x00\x00\x18ftypmp42", "video"),
        (b"\x00\x00\x00\x18ftypheic", "image"),  # HEIC is a still image, for uploads and ingest alike
        (b"II*\x00\x08\x00\x00\x00", "raster"),
        (b"%PDF-1.7", None),
        (b"#!/bin/sh\nrm -rf /", None),
        (b"<svg onload=alert(1)>", None),
    ],
)
def test_types_come_from_the_bytes(head, kind, tmp_path):  # noqa: ANN001
    assert sniff_bytes(head) == kind
    # Ingest asks the same sniffer (a file with no known bytes falls back to its suffix).
    path = tmp_path / "upload.bin"
    path.write_bytes(head + b"\x00" * 64)
    assert sniff_kind(path) == (kind or "document")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/photo.jpg", "photo.jpg"),
        ("..", "upload"),
        ("a\x00b.jpg", "a_b.jpg"),
        ("<script>.jpg", "_script_.jpg"),
    ],
)
def test_client_file_names_lose_their_directories(given, kept):  # noqa: ANN001
    assert safe_filename(given) == kept


def test_text_named_jpg_is_refused_by_name_and_nothing_is_stored(site):  # noqa: F811
    r = site.client.post(
        "/search",
        files=[("files", ("holiday.jpg", b"just some text, not a photo", "image/jpeg"))],
        headers=site.auth("analyst"),
    )
    assert r.status_code == 422
    assert "holiday.jpg" in r.json()["detail"] and "not accepted" in r.json()["detail"]
    assert _evidence_count(site) == 0


def test_truncated_jpeg_is_refused_with_its_name(site):  # noqa: F811
    r = site.client.post(
        "/search",
        files=[("files", ("cut.jpg", astronaut_jpeg()[:3000], "image/jpeg"))],
        headers=site.auth("analyst"),
    )
    assert r.status_code == 422 and "cut.jpg" in r.json()["detail"]


def test_bodies_over_the_limit_are_refused_before_reading(site):  # noqa: F811
    big = b"\xff\xd8\xff" + b"\0" * (9 * 1024 * 1024)  # the site fixture allows 8 MiB
    r = site.client.post(
        "/search", files=[("files", ("big.jpg", big, "image/jpeg"))], headers=site.auth("analyst")
    )
    assert r.status_code == 413
    assert _evidence_count(site) == 0


def test_upload_names_cannot_escape_the_upload_folder(site, tmp_path):  # noqa: F811
    r = site.client.post(
        "/search",
        files=[("files", ("../../../../escaped.jpg", astronaut_jpeg(), "image/jpeg"))],
        headers=site.auth("analyst"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["path"] == "escaped.jpg"
    assert not list(tmp_path.rglob("escaped.jpg"))  # only the content-addressed copy exists
    assert query(site.workspace, "SELECT original_name FROM evidence") == [("escaped.jpg",)]


@pytest.mark.parametrize("folder", ["..", "../..", "/etc", "batch/../../..", "inbox/../../"])
def test_server_folders_must_stay_inside_the_inbox(site, folder):  # noqa: ANN001, F811
    (site.workspace / "inbox" / "batch").mkdir(parents=True, exist_ok=True)
    r = site.client.post("/search/folder", data={"folder": folder}, headers=site.auth("analyst"))
    assert r.status_code in (404, 422), r.text
    assert r.status_code != 404 or "inbox" in r.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/../api/app.py",
        "/static/..%2f..%2fstore%2fdb.py",
        "/static/%2e%2e/%2e%2e/imint.db",
        "/evidence/..%2f..%2fimint.db/file",
        "/evidence/%2e%2e/file",
    ],
)
def test_url_path_traversal_finds_nothing(site, path):  # noqa: ANN001, F811
    r = site.client.get(path, headers=site.auth("admin"))
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert b"SQLite format" not in r.content and b"def create_app" not in r.content


def test_sql_injection_in_queries_and_forms_is_just_text(site):  # noqa: F811
    with Workspace(site.workspace) as ws, ws.session() as s:
        s.add(Person(name="Alice"))
    injected = "' OR '1'='1' --"
    r = site.client.get("/persons.json", params={"q": injected}, headers=site.auth("viewer"))
    assert r.status_code == 200 and r.json()["persons"] == []
    r = site.client.get("/persons.json", params={"q": "%"}, headers=site.auth("viewer"))
    assert r.json()["persons"] == []  # LIKE wildcards are escaped too
    name = "x'); DROP TABLE persons; --"
    r = site.client.post("/watchlists", data={"name": name}, headers=site.auth("analyst"))
    assert r.status_code == 201 and r.json()["name"] == name
    names = [
        p["name"] for p in site.client.get("/persons.json", headers=site.auth("viewer")).json()["persons"]
    ]
    assert names == ["Alice"]
    r = site.client.get("/audit.json", params={"actor": "' OR 1=1 --"}, headers=site.auth("admin"))
    assert r.status_code == 200 and r.json()["entries"] == []
    login_page = site.client.get("/login", headers={"Accept": "text/html"})
    import re

    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', login_page.text).group(1)
    r = site.client.post(
        "/login",
        data={"username": "admin' --", "password": "' OR '1'='1", "login_csrf": login_csrf},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 401


def test_names_and_notes_are_escaped_in_pages(site):  # noqa: F811
    with Workspace(site.workspace) as ws, ws.session() as s:
        s.add(Person(name=XSS, notes=XSS, created_by=XSS))
    r = site.client.post("/watchlists", data={"name": XSS, "description": XSS}, headers=site.auth("analyst"))
    assert r.status_code == 201
    headers = {"Authorization": site.auth("admin")["Authorization"], "Accept": "text/html"}
    for page in ("/persons", "/persons/1", "/watchlists", "/watchlists/1", "/audit"):
        body = site.client.get(page, headers=headers).text
        assert "<script>alert" not in body and "<img src=x" not in body, page
        assert html.escape(XSS, quote=False).split(">")[0] in body or "&lt;script&gt;" in body, page
    # And the JSON twin returns the text unchanged (escaping is the page's job).
    assert site.client.get("/persons/1.json", headers=site.auth("viewer")).json()["person"]["name"] == XSS


def test_stored_html_is_only_ever_a_download(site, tmp_path):  # noqa: F811
    page = tmp_path / "page.html"
    page.write_text("<html><script>alert(document.cookie)</script></html>")
    with Workspace(site.workspace) as ws:
        ev = ws.ingest(page, source="a hostile web page kept as evidence")
    r = site.client.get(f"/evidence/{ev.sha256}/file", headers=site.auth("viewer"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment")


def test_the_openapi_document_needs_an_account(site):  # noqa: F811
    assert site.client.get("/openapi.json").status_code == 401
    doc = site.client.get("/openapi.json", headers=site.auth("viewer")).json()
    assert "/search" in doc["paths"] and doc["paths"]["/search"]["post"]["x-required-role"] == "analyst"
    assert site.client.get("/docs").status_code == 401  # no Swagger page (it would load from a CDN)
    assert site.client.get("/docs", headers=site.auth("viewer")).status_code == 404
