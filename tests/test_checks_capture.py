"""Web captures: a WACZ made here imports with capture URL and time in custody; bad archives store nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from imint import checks
from imint.errors import BadInputError
from imint.store.models import CustodyEntry, EvidenceRow
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, chelsea, jpeg_bytes, open_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


PHOTO_URL = "https://example.org/media/photo.jpg"
CAT_URL = "https://example.org/media/cat.jpg?size=large"


def _warc(responses: list[tuple[str, str, bytes, str]]) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for url, ctype, body, status in responses:
        http = StatusAndHeaders(
            status, [("Content-Type", ctype), ("Content-Length", str(len(body)))], protocol="HTTP/1.1"
        )
        record = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            http_headers=http,
            warc_headers_dict={"WARC-Date": "2024-10-09T08:15:30Z"},
        )
        writer.write_record(record)
    return buf.getvalue()


def _wacz(path: Path, warc: bytes, *, list_missing: bool = False) -> Path:
    pages = (
        json.dumps({"format": "json-pages-1.0"})
        + "\n"
        + json.dumps({"url": "https://example.org/", "ts": "2024-10-09T08:15:30Z"})
        + "\n"
    )
    files = {"archive/data.warc.gz": warc, "pages/pages.jsonl": pages.encode()}
    resources = [
        {
            "name": n.rsplit("/", 1)[-1],
            "path": n,
            "hash": "sha256:" + hashlib.sha256(b).hexdigest(),
            "bytes": len(b),
        }
        for n, b in files.items()
    ]
    if list_missing:
        resources.append(
            {"name": "more.warc.gz", "path": "archive/more.warc.gz", "hash": "sha256:00", "bytes": 1}
        )
    files["datapackage.json"] = json.dumps(
        {"profile": "data-package", "wacz_version": "1.1.1", "resources": resources}
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _count(ws) -> tuple[int, int]:
    with ws.session() as s:
        return s.scalar(select(func.count()).select_from(EvidenceRow)), s.scalar(
            select(func.count()).select_from(CustodyEntry)
        )


def test_wacz_imports_every_image_with_capture_url_time_and_archive_hash_in_custody(
    ws, tmp_path: Path
) -> None:
    warc = _warc(
        [
            (PHOTO_URL, "image/jpeg", jpeg_bytes(astronaut()[:128, :128], 85), "200 OK"),
            (CAT_URL, "image/jpeg; charset=binary", jpeg_bytes(chelsea()[:128, :128], 85), "200 OK"),
            ("https://example.org/", "text/html", b"<html><img src='media/photo.jpg'></html>", "200 OK"),
            ("https://example.org/media/gone.png", "image/png", b"", "404 Not Found"),
        ]
    )
    wacz = _wacz(tmp_path / "page.wacz", warc)
    result = checks.ingest_capture(ws, wacz, source="captured by analyst X")
    assert result.archive.sha256 == hashlib.sha256(wacz.read_bytes()).hexdigest()
    assert result.urls == [PHOTO_URL, CAT_URL]
    assert any("HTTP 404" in s for s in result.skipped)
    photo = result.images[0]
    assert photo.kind == "image" and photo.source == PHOTO_URL
    with ws.session() as s:
        entry = s.scalar(
            select(CustodyEntry).where(
                CustodyEntry.evidence_sha256 == photo.sha256, CustodyEntry.action == "captured"
            )
        )
        assert entry.details["capture_url"] == PHOTO_URL
        assert entry.details["capture_time"] == "2024-10-09T08:15:30Z"
        assert entry.details["archive_sha256"] == result.archive.sha256
    # first_seen reports the capture URL as a source of the picture.
    fs = checks.run_checks(ws, photo, ["first_seen"])["first_seen"]
    assert any(src.get("capture_url") == PHOTO_URL for c in fs.details["copies"] for src in c["sources"])


def test_evidence_add_opens_a_web_capture_and_attaches_what_it_held(ws, tmp_path: Path) -> None:
    from imint import cases

    wacz = _wacz(
        tmp_path / "page.wacz",
        _warc([(PHOTO_URL, "image/jpeg", jpeg_bytes(astronaut()[:96, :96], 85), "200 OK")]),
    )
    cases.create_case(ws, "port")
    added = cases.add_evidence(ws, "port", [wacz], source="captured by analyst X")
    assert [e.kind for e in added] == ["document", "image"] and added[1].source == PHOTO_URL
    attached = {e.sha256 for e, _note in cases.case_evidence(ws, "port")}
    assert attached == {e.sha256 for e in added}


def test_plain_warc_imports_too(ws, tmp_path: Path) -> None:
    f = tmp_path / "crawl.warc.gz"
    f.write_bytes(_warc([(PHOTO_URL, "image/jpeg", jpeg_bytes(astronaut()[:64, :64], 85), "200 OK")]))
    assert checks.ingest_capture(ws, f).urls == [PHOTO_URL]


def test_zip_bomb_named_wacz_is_refused_and_nothing_is_stored(ws, tmp_path: Path) -> None:
    bomb = tmp_path / "evil.wacz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.warc", b"\x00" * (64 << 20))
    assert bomb.stat().st_size < 1 << 20
    before = _count(ws)
    with pytest.raises(BadInputError, match=r"evil\.wacz.*expands .*-fold.*zip bomb.*check capture"):
        checks.ingest_capture(ws, bomb)
    assert _count(ws) == before


def test_missing_resource_and_not_a_zip_are_clear_errors(ws, tmp_path: Path) -> None:
    warc = _warc([(PHOTO_URL, "image/jpeg", jpeg_bytes(astronaut()[:64, :64], 85), "200 OK")])
    before = _count(ws)
    with pytest.raises(BadInputError, match=r"lists 'archive/more.warc.gz', which the archive does not hold"):
        checks.ingest_capture(ws, _wacz(tmp_path / "partial.wacz", warc, list_missing=True))
    fake = tmp_path / "fake.wacz"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(BadInputError, match=r"fake\.wacz: not a WACZ"):
        checks.ingest_capture(ws, fake)
    assert _count(ws) == before
