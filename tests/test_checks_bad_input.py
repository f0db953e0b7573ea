"""Every bad input of the checks issue, one by one: a clear message naming the file and the check, the
other checks still run, and nothing stored before is changed (results, heat maps, originals).

truncated JPEG, broken EXIF block, a 10 MB XMP packet, a PNG with no metadata, a tampered and an invalid
C2PA manifest (in pictures), a WACZ with a missing resource and a zip bomb named .wacz (whole archives:
refused before anything is stored, so there are no other checks to run on them).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select

from imint import checks
from imint.errors import BadInputError
from imint.store.models import CustodyEntry, EvidenceRow
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, chelsea, jpeg_bytes, open_workspace
from tests.test_checks_metadata import exif_jpeg

PIXEL_CHECKS = ("jpeg", "ela", "noise", "copy_move")


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


def snapshot(ws: Workspace) -> dict:
    """Everything stored so far: each evidence's results, its heat maps' bytes and its original's hash."""
    out = {}
    for ev in ws.list_evidence():
        results = checks.stored_results(ws, ev.sha256)
        maps = {r.artifact: (ws.path / r.artifact).read_bytes() for r in results if r.artifact}
        original = hashlib.sha256(Path(ev.stored_path).read_bytes()).hexdigest()
        out[ev.sha256] = ([r.to_dict() for r in results], maps, original)
    return out


@pytest.fixture()
def stored(ws, tmp_path: Path) -> dict:
    """A good photo, fully checked, before any bad input arrives."""
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(astronaut(), 85))
    checks.run_checks(ws, ws.ingest(good))
    return snapshot(ws)


def unchanged(ws: Workspace, before: dict) -> None:
    after = snapshot(ws)
    assert {sha: after[sha] for sha in before} == before


def run_bad(ws: Workspace, path: Path):  # noqa: ANN201 - CheckReport
    ev = ws.ingest(path)  # every file is ingested first, bad or not: the original is kept as received
    assert hashlib.sha256(Path(ev.stored_path).read_bytes()).hexdigest() == ev.sha256
    return checks.run_checks(ws, ev)


def assert_error(report, check: str, name: str, *phrases: str) -> None:  # noqa: ANN001
    r = report[check]
    assert r.status == "error", (check, r.status, r.summary)
    assert name in r.summary and f"check {check}" in r.summary, r.summary
    assert r.details["error_type"] != "unexpected", r.summary  # an ImintError, not a crash
    for phrase in phrases:
        assert phrase in r.summary, r.summary


def assert_ran(report, *names: str) -> None:  # noqa: ANN001
    for name in names:
        assert report[name].status in ("ok", "flagged", "absent"), (name, report[name].summary)


def test_truncated_jpeg(ws, stored, tmp_path: Path) -> None:
    data = jpeg_bytes(astronaut(), 85)
    f = tmp_path / "cut.jpg"
    f.write_bytes(data[: len(data) // 2])
    report = run_bad(ws, f)
    for check in (*PIXEL_CHECKS, "first_seen", "near_duplicates"):  # every check that decodes the pixels
        assert_error(report, check, "cut.jpg")
    assert_ran(report, "c2pa", "metadata")  # those that read the bytes still run
    unchanged(ws, stored)


def test_broken_exif_block(ws, stored, tmp_path: Path) -> None:
    good = exif_jpeg(tmp_path / "g.jpg", when="2024:07:10 14:30:00", lat=(50.0, 27.0, 0.0),
                     lon=(30.0, 31.0, 24.0), lat_ref="N", lon_ref="E")  # fmt: skip
    f = tmp_path / "broken-exif.jpg"
    f.write_bytes(good.read_bytes().replace(b"Exif\x00\x00", b"Exif\x00\x00" + b"\xff" * 40, 1))
    report = run_bad(ws, f)
    assert_error(report, "metadata", "broken-exif.jpg")
    assert_ran(report, "c2pa", "near_duplicates", *PIXEL_CHECKS)
    unchanged(ws, stored)


def test_xmp_packet_of_10_mb(ws, stored, tmp_path: Path) -> None:
    xmp = (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><!-- '
        + "A" * (10 << 20)
        + ' --></x:xmpmeta><?xpacket end="w"?>'
    )
    meta = PngImagePlugin.PngInfo()
    meta.add_itxt("XML:com.adobe.xmp", xmp)
    buf = io.BytesIO()
    Image.fromarray(astronaut()[:128, :128]).save(buf, format="PNG", pnginfo=meta)
    f = tmp_path / "xmp-10mb.png"
    f.write_bytes(buf.getvalue())
    assert f.stat().st_size > 10 << 20
    report = run_bad(ws, f)
    assert_error(report, "metadata", "xmp-10mb.png", "10,485,", "over the 1,048,576-byte limit; not parsed")
    assert_ran(report, "c2pa", "near_duplicates", "ela", "noise", "copy_move")
    unchanged(ws, stored)


def test_png_with_no_metadata(ws, stored, tmp_path: Path) -> None:
    f = tmp_path / "plain.png"
    Image.fromarray(chelsea()).save(f, format="PNG")
    report = run_bad(ws, f)
    m = report["metadata"]
    assert m.status == "absent"
    assert "plain.png" in m.summary and "check metadata" in m.summary and "proves nothing" in m.summary
    assert report["c2pa"].status == "absent" and "plain.png" in report["c2pa"].summary
    assert report["jpeg"].status == "absent"  # not a JPEG: nothing to say about its saves
    assert_ran(report, "near_duplicates", "first_seen", "ela", "noise", "copy_move")
    unchanged(ws, stored)


@pytest.fixture()
def signed(tmp_path: Path) -> bytes:
    from tests.test_checks_c2pa import _signed

    return _signed(tmp_path).read_bytes()


def test_tampered_c2pa_manifest(ws, stored, signed, tmp_path: Path) -> None:
    # A byte changed inside the manifest's own claim (not in the picture data): the signature fails.
    data = bytearray(signed)
    at = data.index(b"imint-test")  # the claim generator's name, inside the signed claim
    data[at] ^= 0x20
    f = tmp_path / "tampered-manifest.jpg"
    f.write_bytes(bytes(data))
    report = run_bad(ws, f)
    r = report["c2pa"]
    assert r.status == "flagged" and "does not validate" in r.summary, r.summary
    assert "claimSignature.mismatch" in r.details["failures"], r.details
    assert_ran(report, "metadata", "near_duplicates", *PIXEL_CHECKS)
    unchanged(ws, stored)


def test_invalid_c2pa_manifest(ws, stored, signed, tmp_path: Path) -> None:
    # The manifest store's boxes overwritten with junk: present, but not a manifest at all.
    data = bytearray(signed)
    at = data.index(b"jumb")
    data[at + 40 : at + 400] = b"\x5a" * 360
    f = tmp_path / "invalid-manifest.jpg"
    f.write_bytes(bytes(data))
    report = run_bad(ws, f)
    assert_error(report, "c2pa", "invalid-manifest.jpg", "C2PA data present but unreadable")
    assert_ran(report, "metadata", "near_duplicates", *PIXEL_CHECKS)
    unchanged(ws, stored)


def counts(ws: Workspace) -> tuple[int, int]:
    with ws.session() as s:
        return (
            s.scalar(select(func.count()).select_from(EvidenceRow)),
            s.scalar(select(func.count()).select_from(CustodyEntry)),
        )


def test_wacz_with_a_missing_resource(ws, stored, tmp_path: Path) -> None:
    from tests.test_checks_capture import PHOTO_URL, _wacz, _warc

    warc = _warc([(PHOTO_URL, "image/jpeg", jpeg_bytes(astronaut()[:64, :64], 85), "200 OK")])
    f = _wacz(tmp_path / "partial.wacz", warc, list_missing=True)
    before = counts(ws)
    with pytest.raises(BadInputError) as err:
        ws.parts.importer_for(f)(ws, f, source="test")  # the path `imint evidence add x.wacz` takes
    assert "partial.wacz" in str(err.value) and "check capture" in str(err.value)
    assert "archive/more.warc.gz" in str(err.value)
    assert counts(ws) == before
    unchanged(ws, stored)


def test_zip_bomb_named_wacz(ws, stored, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.wacz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("datapackage.json", b'{"resources": []}')
        zf.writestr("archive/data.warc.gz", b"\x00" * (256 << 20))
    assert bomb.stat().st_size < 2 << 20
    before = counts(ws)
    with pytest.raises(BadInputError) as err:
        ws.parts.importer_for(bomb)(ws, bomb, source="test")
    assert (
        "bomb.wacz" in str(err.value) and "check capture" in str(err.value) and "zip bomb" in str(err.value)
    )
    assert counts(ws) == before
    unchanged(ws, stored)
