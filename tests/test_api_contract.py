"""The OpenAPI document says what each route takes and answers (no server: the app's own openapi()).

These are the rules scripts/contract_check.sh (Schemathesis against a real server) would otherwise
find one failure at a time: FastAPI reads an empty form field as a missing one, a form or query
string cannot carry a JSON null, a route that names records in its body can answer 404, a route
that sends a PNG does not answer JSON.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from imint.api.app import create_app


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = create_app(tmp_path_factory.mktemp("ws"), run_jobs=False)
    return app.openapi()


def _operations(doc: dict[str, Any]):  # noqa: ANN202
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield f"{method.upper()} {path}", op


def _form_bodies(doc: dict[str, Any]):  # noqa: ANN202
    """(operation, media type, body schema, content entry) of every form or multipart body."""
    schemas = doc["components"]["schemas"]
    for label, op in _operations(doc):
        for media_type, content in op.get("requestBody", {}).get("content", {}).items():
            ref = content["schema"].get("$ref", "")
            yield label, media_type, schemas[ref.rsplit("/", 1)[-1]] if ref else content["schema"], content


def _is_file(field: dict[str, Any]) -> bool:
    field = field.get("items", field)
    return field.get("format") == "binary" or field.get("contentMediaType") == "application/octet-stream"


def _types(field: dict[str, Any]) -> list[str]:
    declared = field.get("type", [])
    return declared if isinstance(declared, list) else [declared]


# Statuses the route answers besides 401/403/422 and what its shape implies (404 for a path
# parameter): checked against the handlers by hand; add a line when a route learns a new answer.
EXPECTED_STATUSES = {
    "POST /watchlists": {"201", "409"},
    "POST /sites": {"201", "404", "409"},  # 404: a place the gazetteer does not know
    "POST /cases": {"201", "409"},
    "POST /users": {"201", "409"},
    "POST /search": {"200", "202", "404"},  # 404: an evidence hash or watchlist that is not stored
    "POST /search/folder": {"202", "404"},  # 404: no such inbox folder, or nothing to search in it
    "POST /clusters/merge": {"200", "404"},
    "POST /sites/{site_id}/scenes": {"201", "202", "409"},  # 201 with detector=none, else a job
    "POST /persons/{person_id}/update": {"409"},  # renamed to a name another person has
    "POST /sites/{site_id}/areas": {"201", "409"},
    "POST /jobs/{job_id}/cancel": {"409"},
}


@pytest.mark.parametrize("operation", sorted(EXPECTED_STATUSES))
def test_routes_document_the_statuses_they_answer(doc, operation):  # noqa: ANN001
    method, path = operation.split(" ", 1)
    responses = set(doc["paths"][path][method.lower()]["responses"])
    missing = EXPECTED_STATUSES[operation] - responses
    assert not missing, f"{operation} answers {sorted(missing)} but does not document it"


def test_every_error_answer_has_the_one_error_body(doc):  # noqa: ANN001
    for label, op in _operations(doc):
        needed = {"401", "403", "422"} if op.get("x-required-role") != "public" else {"422"}
        if "{" in label:
            needed.add("404")
        if "requestBody" in op:
            needed |= {"400", "413"}
        assert needed <= set(op["responses"]), (label, sorted(needed - set(op["responses"])))
        for code, entry in op["responses"].items():
            if code.startswith("4"):
                assert entry["content"] == {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                }, (label, code)


def test_required_text_fields_of_a_form_refuse_the_empty_string_in_the_schema_too(doc):  # noqa: ANN001
    """FastAPI answers 'Field required' for ``name=``: the schema must not allow what the route refuses."""
    checked = 0
    for label, _media, body, _content in _form_bodies(doc):
        for name in body.get("required", []):
            field = body["properties"][name]
            if field.get("type") == "string" and not _is_file(field) and "enum" not in field:
                checked += 1
                allows_empty = field.get("minLength", 0) < 1 and re.search(field.get("pattern", ""), "")
                assert not allows_empty, f"{label}: required field {name} allows ''"
            if "array" in _types(field):
                assert field.get("minItems", 0) >= 1, f"{label}: required list {name} allows none"
    assert checked > 10


def test_names_and_texts_that_are_stripped_must_hold_more_than_white_space(doc):  # noqa: ANN001
    body = doc["components"]["schemas"]
    for model, field in [
        ("Body_enroll_persons_post", "name"),
        ("Body_create_watchlist_watchlists_post", "name"),
        ("Body_add_site_sites_post", "name"),
        ("Body_add_claim_cases__case_id__claims_post", "text"),
    ]:
        pattern = body[model]["properties"][field].get("pattern")
        assert pattern, (model, field)
        assert not re.search(pattern, " \t\x1c"), (model, field, pattern)
        assert re.search(pattern, " Vladivostok "), (model, field, pattern)


def test_white_space_is_what_python_strips_not_only_what_json_schema_calls_white_space(doc):  # noqa: ANN001
    """A client checks patterns with ECMA-262's \\s (as Schemathesis does, with jsonschema-rs), which
    lacks \\x1c-\\x1f and \\x85; the routes strip (or refuse) every character Python counts as white space,
    so the patterns name those too."""
    import sys

    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    python_white = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    body = doc["components"]["schemas"]
    stripped = [
        ("Body_enroll_persons_post", "name"),
        ("Body_create_watchlist_watchlists_post", "name"),
        ("Body_add_site_sites_post", "name"),
        ("Body_add_claim_cases__case_id__claims_post", "text"),
    ]
    for model, field in stripped:
        valid = jsonschema_rs.validator_for(body[model]["properties"][field]).is_valid
        assert valid("Vladivostok"), (model, field)
        blank = [repr(w) for w in python_white if valid(w * 3)]
        assert not blank, f"{model}.{field} takes a text of only {blank}"
    case_name = jsonschema_rs.validator_for(
        body["Body_create_case_cases_post"]["properties"]["name"]
    ).is_valid
    assert case_name("dprk-troops-2024") and not case_name("2024")
    spaced = [repr(w) for w in python_white if case_name(f"dprk{w}2024")]
    assert not spaced, f"a case name may hold {spaced}, which create_case refuses"


# The multipart fields that take a list of files (``list[UploadFile]``).
FILE_LISTS = {
    ("POST /persons", "photos"),
    ("POST /search", "files"),
    ("POST /cases/{case_id}/evidence", "files"),
}


def test_a_list_of_files_is_documented_as_one_file_or_several(doc):  # noqa: ANN001
    """Multipart sends each file of a list as its own part named like the field, so one file sent on
    its own is the same request as a list of one, and the route takes it: the schema says "a file, or
    an array of files". (Array-only, a client sending one file, as Schemathesis does, judged its own
    valid request invalid and the 201 a failure.)"""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    found = set()
    for label, _media, body, _content in _form_bodies(doc):
        for name, field in body.get("properties", {}).items():
            if not isinstance(field.get("items"), dict) or not _is_file(field["items"]):
                continue
            found.add((label, name))
            assert sorted(_types(field)) == ["array", "string"], (label, name, field)
            assert field["contentMediaType"] == "application/octet-stream", (label, name)
            assert field.get("minItems", 0) >= 1, (label, name)
            valid = jsonschema_rs.validator_for(field).is_valid
            # JSON Schema sees a file's content as a string.
            assert valid("one file") and valid(["a file", "another"]), (label, name)
            assert not valid([]) and not valid(5) and not valid({"file": "x"}), (label, name)
    assert found == FILE_LISTS


def test_no_form_field_or_query_parameter_is_documented_as_nullable(doc):  # noqa: ANN001
    """A client would send the word 'null', which the route refuses: optional means not required."""
    for label, _media, body, _content in _form_bodies(doc):
        for name, field in body.get("properties", {}).items():
            assert {"type": "null"} not in field.get("anyOf", []), f"{label}: form field {name} is nullable"
    for label, op in _operations(doc):
        for parameter in op.get("parameters", []):
            schema = parameter["schema"]
            assert {"type": "null"} not in schema.get("anyOf", []), (
                f"{label}: {parameter['name']} is nullable"
            )


def test_closed_vocabularies_are_enums(doc):  # noqa: ANN001
    """Each scale is an enum; an optional one also takes '' (an empty <select> option: not sent)."""
    from imint.cases import CREDIBILITY, RELATIONS, RELIABILITY, STATUSES

    body = doc["components"]["schemas"]
    claims = body["Body_add_claim_cases__case_id__claims_post"]["properties"]
    assert claims["reliability"]["enum"] == [*RELIABILITY, ""]
    assert claims["credibility"]["enum"] == [*(str(c) for c in CREDIBILITY), ""]
    link = body["Body_link_claim_claims__claim_id__links_post"]["properties"]
    assert link["relation"]["enum"] == list(RELATIONS)  # required: no ''
    status = body["Body_set_claim_status_claims__claim_id__status_post"]["properties"]["status"]
    assert status["enum"] == list(STATUSES)


def test_a_body_that_needs_one_of_several_fields_says_so(doc):  # noqa: ANN001
    body = doc["components"]["schemas"]
    search = body["Body_search_search_post"]["anyOf"]
    assert [branch["required"] for branch in search] == [["files"], ["evidence"]]
    # Sent means something: a file, a hash that is not blank (the route drops blank ones).
    assert search[0]["properties"]["files"] == {"minItems": 1}
    assert search[1]["properties"]["evidence"]["items"]["minLength"] == 1
    assert ["lon", "lat"] in [branch["required"] for branch in body["Body_add_site_sites_post"]["anyOf"]]
    link = body["Body_link_claim_claims__claim_id__links_post"]
    assert [branch["required"] for branch in link["oneOf"]] == [["evidence"], ["record"]]  # both: refused
    assert "match" in link["properties"]["record"]["pattern"]  # the record types the parts register


def test_every_upload_field_documents_the_media_types_it_takes(doc):  # noqa: ANN001
    uploads = 0
    for label, media, body, content in _form_bodies(doc):
        for name, field in body.get("properties", {}).items():
            if _is_file(field):
                uploads += 1
                assert media == "multipart/form-data", label
                types = content.get("encoding", {}).get(name, {}).get("contentType", "")
                assert "image/jpeg" in types or "image/tiff" in types, f"{label}: {name} says no media type"
    assert uploads >= 6


def test_routes_that_send_bytes_document_their_media_type_not_json(doc):  # noqa: ANN001
    binary = {
        "/sites/{site_id}/changes/chart": "image/png",
        "/sites/{site_id}/activity/chart": "image/png",
        "/scenes/{scene_id}/quicklook": "image/png",
        "/scenes/{scene_id}/overlay.png": "image/png",
        "/faces/{face_id}/crop": "image/jpeg",
        "/candidates/{candidate_id}/pair.jpg": "image/jpeg",
        "/cases/{case_id}/report": "text/html",
        "/cases/{case_id}/report/pdf": "application/pdf",
    }
    for path, media_type in binary.items():
        content = doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert list(content) == [media_type], (path, list(content))
    evidence_file = doc["paths"]["/evidence/{sha256}/file"]["get"]["responses"]["200"]["content"]
    assert "application/octet-stream" in evidence_file and "application/json" not in evidence_file


def test_dates_are_real_calendar_days(doc):  # noqa: ANN001
    params = {p["name"]: p for p in doc["paths"]["/sites/{site_id}/activity"]["get"]["parameters"]}
    pattern = params["claim_dates"]["schema"]["pattern"]
    for good in ("", "2024-10-08/2024-10-13", "2024-02-29", "2000-02-29,2024-12-31"):
        assert re.fullmatch(pattern, good), good
    for bad in ("2024-02-30", "2023-02-29", "1900-02-29", "0000-01-01", "2024-13-01", "000000", "2024-1-1"):
        assert not re.fullmatch(pattern, bad), bad


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """An in-process client (no server) and an admin's headers."""
    from fastapi.testclient import TestClient

    from tests.api_support import make_users

    path = tmp_path_factory.mktemp("served") / "ws"
    tokens = make_users(path)
    with TestClient(create_app(path, run_jobs=False)) as client:
        yield client, {"Authorization": f"Bearer {tokens['admin']}", "Accept": "application/json"}


def test_a_form_boolean_is_true_or_false_only(admin):  # noqa: ANN001
    """The schema says boolean; pydantic alone would also take 0, 1, yes, off... as one."""
    client, auth = admin
    for value, status in (("0", 422), ("yes", 422), ("True", 422), ("false", 200)):
        r = client.post("/users/viewer", data={"disabled": value}, headers=auth)
        assert r.status_code == status, (value, r.text)
    assert client.get("/cases/1/report", params={"download": "1"}, headers=auth).status_code == 422


def test_a_path_that_is_not_a_cluster_answers_405_with_the_methods_it_has(admin):  # noqa: ANN001
    client, auth = admin
    for path in ("/clusters/run", "/clusters/merge"):
        r = client.get(path, headers=auth)
        assert r.status_code == 405 and r.headers["allow"] == "POST", (path, r.status_code, r.text)
    r = client.options("/cases", headers=auth)
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    assert client.get("/clusters/7", headers=auth).status_code == 404  # a cluster id: its page


def test_an_inbox_folder_name_over_the_file_system_limit_is_a_clear_404(admin):  # noqa: ANN001
    client, auth = admin
    r = client.post("/search/folder", data={"folder": "x" * 900}, headers=auth)
    assert r.status_code == 404, r.text
    assert r.json()["subject"] == "folder" and "too long" in r.json()["detail"].lower()


def test_a_list_of_files_takes_one_file_or_several_on_the_wire(admin):  # noqa: ANN001
    """What the schema says of a list of files, against the route: one part (a file on its own, or a
    list of one: the same bytes), two parts, none."""
    import io

    from PIL import Image

    client, auth = admin

    def png(shade: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (shade, 90, 30)).save(buf, "PNG")
        return buf.getvalue()

    case = client.post("/cases", data={"name": "file-lists"}, headers=auth)
    assert case.status_code == 201, case.text
    url = f"/cases/{case.json()['id']}/evidence"
    one = client.post(url, files={"files": ("a.png", png(10), "image/png")}, headers=auth)
    assert one.status_code == 201 and len(one.json()["added"]) == 1, one.text
    two = [("files", ("b.png", png(20), "image/png")), ("files", ("c.png", png(30), "image/png"))]
    both = client.post(url, files=two, headers=auth)
    assert both.status_code == 201 and len(both.json()["added"]) == 2, both.text
    none = client.post(url, data={"note": "no file"}, headers=auth)
    assert none.status_code in (400, 422), none.text


@pytest.fixture(scope="module")
def st_schema(doc):  # noqa: ANN001, ANN201
    """The document loaded by Schemathesis with scripts/contract_hooks.py's generators and corrections."""
    import sys
    from pathlib import Path

    schemathesis = pytest.importorskip("schemathesis")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import contract_hooks
    finally:
        sys.path.pop(0)
    return schemathesis.openapi.from_dict(doc), contract_hooks


def test_the_coverage_phase_multipart_case_is_valid_where_it_claims_to_be(st_schema):  # noqa: ANN001
    """Schemathesis 4.32.5 filled a required field without a media-type strategy with '' (a person's
    name included) and called the body positive; the hooks give it the field's simplest valid value."""
    import jsonschema_rs
    from schemathesis.specs.openapi.coverage import _operation as coverage

    schema, _hooks = st_schema
    body = next(iter(schema["/persons"]["POST"].body))
    values, content_types = coverage._generate_multipart_body_from_custom_strategies(body)
    assert content_types == {"photos": "image/jpeg"} and values["photos"][:2] == b"\xff\xd8"
    assert jsonschema_rs.validator_for(body.form_properties["name"]).is_valid(values["name"])


def test_a_body_with_a_file_is_read_as_sent_by_the_negative_check(st_schema):  # noqa: ANN001
    """negative_data_rejection reads a form as the server reads the parts sent; with a file among them
    that reading raised on the bytes. Read as sent, a number in a text part is text (valid), and an
    empty required name is still a violation."""
    import types

    import requests
    from schemathesis.specs.openapi import checks

    schema, hooks = st_schema
    operation = schema["/persons"]["POST"]
    jpeg = hooks._image_bytes("JPEG")

    def valid_as_sent(body: dict[str, Any]) -> bool:
        case = operation.Case(
            body=body, media_type="multipart/form-data", multipart_content_types={"photos": "image/jpeg"}
        )
        kwargs = case.as_transport_kwargs(base_url="http://127.0.0.1:1")
        fields = ("method", "url", "headers", "files", "data", "params")
        request = requests.Request(**{k: v for k, v in kwargs.items() if k in fields}).prepare()
        assert b'filename="photos.jpg"' in request.body  # one file, sent as a file part
        response = types.SimpleNamespace(request=request)
        return checks._form_body_is_valid_as_sent(response, case, "multipart/form-data")

    assert valid_as_sent({"name": 1.5e10, "watchlist": -3, "photos": jpeg})
    assert not valid_as_sent({"name": "", "photos": jpeg})
