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


# -- stored files are never served as something a browser would run ----------------------------
@pytest.mark.parametrize(
    ("stored", "served"),
    [
        ("image/jpeg", "image/jpeg"),
        ("video/mp4", "video/mp4"),
        ("IMAGE/PNG; charset=binary", "image/png"),
        ("image/svg+xml", "application/octet-stream"),
        ("text/html", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/pdf", "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_safe_media_type_lets_only_display_types_through(stored, served):  # noqa: ANN001
    from imint.api.deps import safe_media_type

    assert safe_media_type(stored) == served


def test_file_response_makes_anything_but_pictures_and_videos_a_download(tmp_path):  # noqa: ANN001
    from imint.api.deps import file_response

    path = tmp_path / "obj"
    path.write_bytes(b"<svg onload=alert(1)>")
    svg = file_response(path, "image/svg+xml", "map.svg")
    assert svg.media_type == "application/octet-stream"
    assert svg.headers["content-disposition"].startswith("attachment")
    assert svg.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in svg.headers["content-security-policy"]
    photo = file_response(path, "image/jpeg", "photo.jpg")
    assert photo.media_type == "image/jpeg" and photo.headers["content-disposition"].startswith("inline")
    asked = file_response(path, "image/jpeg", "photo.jpg", download=True)
    assert asked.headers["content-disposition"].startswith("attachment")


# -- one error body, documented ----------------------------------------------------------------------
def _error_ref(entry):  # noqa: ANN001, ANN202
    return entry.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def test_every_operation_documents_its_errors_with_the_one_error_body(site):  # noqa: F811
    from imint.api.deps import ErrorBody

    doc = site.client.get("/openapi.json", headers=site.auth("viewer")).json()
    assert doc["components"]["schemas"]["ErrorBody"] == ErrorBody.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    assert "HTTPValidationError" not in str(doc)  # FastAPI's default 422 body is not what we send
    operations = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            operations += 1
            needed = {"422"} if op.get("x-required-role") == "public" else {"401", "403", "422"}
            if "{" in path:
                needed.add("404")
            if "requestBody" in op:
                needed.add("413")
            missing = needed - set(op["responses"])
            assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"
            for code, entry in op["responses"].items():
                if code.startswith("4"):
                    assert _error_ref(entry) == "#/components/schemas/ErrorBody", (method, path, code)
    assert operations > 20
    login_post = doc["paths"]["/login"]["post"]["responses"]
    assert {"401", "403", "429"} <= set(login_post)
    assert "409" in doc["paths"]["/users"]["post"]["responses"]


def test_actual_error_bodies_match_the_documented_model(site):  # noqa: F811
    from imint.api.deps import ErrorBody

    answers = {
        401: site.client.get("/jobs", headers={"Accept": "application/json"}),
        403: site.client.get("/users", headers=site.auth("viewer")),
        404: site.client.get("/jobs/99999", headers=site.auth("viewer")),
        422: site.client.get("/jobs", params={"limit": "many"}, headers=site.auth("viewer")),
        409: site.client.post(
            "/users", data={"name": "admin", "password": "long enough"}, headers=site.auth("admin")
        ),
        413: site.client.post(
            "/users",
            content=b"x" * (9 * 1024 * 1024),
            headers={**site.auth("admin"), "Content-Type": "application/x-www-form-urlencoded"},
        ),
    }
    for status, r in answers.items():
        assert r.status_code == status, (status, r.text[:200])
        assert r.headers["content-type"] == "application/json"
        body = ErrorBody.model_validate(r.json())  # extra keys are refused too
        assert set(r.json()) == {"detail", "subject", "reason", "errors"}
        assert body.detail
    assert answers[404].json()["subject"] == "job 99999"
    assert answers[422].json()["errors"] and "limit" in answers[422].json()["errors"][0]
    assert answers[409].json()["reason"] == "a user with this name exists"


def test_an_id_past_64_bits_is_an_unknown_record_not_a_server_error(site):  # noqa: F811
    # Schemathesis found these: SQLite cannot bind an integer over 2**63 - 1, PostgreSQL's
    # INTEGER ids stop at 2**31 - 1.
    for path in (f"/cases/{2**64}", f"/jobs/{2**70}", f"/persons/{2**65}"):
        r = site.client.get(path, headers=site.auth("viewer"))
        assert r.status_code == 404, (path, r.text[:200])
        assert r.json()["detail"] == "no record with this id"
    # Past PostgreSQL's INTEGER but a legal SQLite id: there the ordinary "no such" answer, naming it.
    for kind, number in (("cases", 2**31), ("jobs", 2**40)):
        r = site.client.get(f"/{kind}/{number}", headers=site.auth("viewer"))
        assert r.status_code == 404, (kind, r.text[:200])
        detail = r.json()["detail"]
        assert detail == "no record with this id" or str(number) in detail, detail


# -- security headers on every answer ----------------------------------------------------------------
def test_security_headers_are_on_errors_static_files_and_the_door_too(site):  # noqa: F811
    answers = {
        "401 json": site.client.get("/", headers={"Accept": "application/json"}),
        "401 page": site.client.get("/", headers={"Accept": "text/html"}),
        "403": site.client.get("/users", headers=site.auth("viewer")),
        "404": site.client.get("/no/such/page", headers=site.auth("viewer")),
        "422": site.client.get("/jobs?limit=0", headers=site.auth("viewer")),
        "413": site.client.post("/search", content=b"x" * (9 * 1024 * 1024), headers=site.auth("analyst")),
        "static": site.client.get("/static/app.css"),
        "login": site.client.get("/login", headers={"Accept": "text/html"}),
        "page": site.client.get("/", headers={**site.auth("viewer"), "Accept": "text/html"}),
    }
    assert answers["static"].status_code == 200 and answers["413"].status_code == 413
    for name, r in answers.items():
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), name
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("x-frame-options") == "DENY", name
        assert r.headers.get("referrer-policy") == "same-origin", name
        assert len(r.headers.get_list("content-security-policy")) == 1, name
    assert "strict-transport-security" not in answers["page"].headers  # only behind TLS


def test_hsts_is_sent_behind_tls(tmp_path):  # noqa: ANN001
    from fastapi.testclient import TestClient

    from imint.api.app import create_app

    with TestClient(create_app(tmp_path / "ws", secure_cookies=True, run_jobs=False)) as client:
        r = client.get("/login")
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_405_lists_every_method_the_path_has(site):  # noqa: F811
    r = site.client.request("PATCH", "/users", headers=site.auth("admin"))
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert set(r.json()) == {"detail", "subject", "reason", "errors"}


def test_the_role_enum_of_the_schema_is_the_roles_of_the_tables():
    from typing import get_args

    from imint.api.routes_core import Role
    from imint.store.models_api import ROLES

    assert get_args(Role) == ROLES
