"""metadata: GPS + local capture time to UTC, contradictions with a claim, broken EXIF, huge XMP, HEIC."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imint import cases, checks
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, open_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


def exif_jpeg(
    path: Path,
    *,
    when: str,
    lat: tuple,
    lon: tuple,
    lat_ref: str,
    lon_ref: str,
    offset: str | None = None,
    software: str | None = None,
) -> Path:
    img = Image.fromarray(astronaut()[:128, :128])
    exif = img.getexif()
    exif[0x010F] = "TestMaker"
    exif[0x0110] = "Model T"
    if software:
        exif[0x0131] = software
    photo = {0x9003: when}
    if offset:
        photo[0x9011] = offset
    exif[0x8769] = photo
    exif[0x8825] = {1: lat_ref, 2: lat, 3: lon_ref, 4: lon}
    img.save(path, format="JPEG", quality=90, exif=exif.tobytes())
    return path


def test_local_capture_time_becomes_utc_with_the_zone_at_the_gps_point(ws, tmp_path: Path) -> None:
    # Kyiv in summer is UTC+3 (EEST): 14:30 local is 11:30 UTC.
    f = exif_jpeg(
        tmp_path / "kyiv.jpg",
        when="2024:07:10 14:30:00",
        lat=(50.0, 27.0, 0.0),
        lon=(30.0, 31.0, 24.0),
        lat_ref="N",
        lon_ref="E",
    )
    r = checks.run_checks(ws, ws.ingest(f), ["metadata"])["metadata"]
    assert r.status == "ok"
    d = r.details
    assert d["time_zone"] == "Europe/Kyiv"
    assert d["capture_utc"] == "2024-07-10T11:30:00Z"
    assert d["gps"]["lat"] == pytest.approx(50.45) and d["gps"]["lon"] == pytest.approx(30.5233, abs=1e-4)
    assert d["make"] == "TestMaker"
    # Winter in New York is UTC-5.
    f2 = exif_jpeg(
        tmp_path / "ny.jpg",
        when="2024:01:15 08:00:00",
        lat=(40.0, 42.0, 46.0),
        lon=(74.0, 0.0, 22.0),
        lat_ref="N",
        lon_ref="W",
    )
    d2 = checks.run_checks(ws, ws.ingest(f2), ["metadata"])["metadata"].details
    assert d2["time_zone"] == "America/New_York" and d2["capture_utc"] == "2024-01-15T13:00:00Z"


def test_offset_tag_wins_and_editing_software_is_flagged(ws, tmp_path: Path) -> None:
    f = exif_jpeg(
        tmp_path / "edited.jpg",
        when="2024:07:10 14:30:00",
        lat=(50.0, 27.0, 0.0),
        lon=(30.0, 31.0, 24.0),
        lat_ref="N",
        lon_ref="E",
        offset="+02:00",
        software="Adobe Photoshop 25.0 (Windows)",
    )
    r = checks.run_checks(ws, ws.ingest(f), ["metadata"])["metadata"]
    assert r.details["capture_utc"] == "2024-07-10T12:30:00Z"
    assert r.details["capture_basis"] == "EXIF OffsetTimeOriginal"
    assert r.status == "flagged" and "Photoshop" in r.summary


def test_contradictions_with_a_claims_dates_and_places(ws, tmp_path: Path) -> None:
    f = exif_jpeg(
        tmp_path / "kyiv.jpg",
        when="2024:07:10 14:30:00",
        lat=(50.0, 27.0, 0.0),
        lon=(30.0, 31.0, 24.0),
        lat_ref="N",
        lon_ref="E",
    )
    result = checks.run_checks(ws, ws.ingest(f), ["metadata"])["metadata"]
    cases.create_case(ws, "c1")
    near = cases.add_claim(
        ws, "c1", "Seen in Kyiv in July", source="S", dates="2024-07-01/2024-07-31", places=["Kyiv"]
    )
    far = cases.add_claim(ws, "c1", "Seen in Lviv in May", source="S", dates="2024-05", places=["Lviv"])
    assert checks.contradictions(result, near) == []
    found = {c.kind: c for c in checks.contradictions(result, far)}
    assert set(found) == {"date", "place"}
    assert found["place"].details["distances_km"]["Lviv"] == pytest.approx(468, abs=15)


def test_broken_exif_is_an_error_naming_file_and_check_and_other_checks_run(ws, tmp_path: Path) -> None:
    good = exif_jpeg(
        tmp_path / "g.jpg",
        when="2024:07:10 14:30:00",
        lat=(50.0, 27.0, 0.0),
        lon=(30.0, 31.0, 24.0),
        lat_ref="N",
        lon_ref="E",
    )
    bad = tmp_path / "broken-exif.jpg"
    bad.write_bytes(good.read_bytes().replace(b"Exif\x00\x00", b"Exif\x00\x00" + b"\xff" * 40, 1))
    report = checks.run_checks(ws, ws.ingest(bad), ["metadata", "c2pa", "ela"])
    m = report["metadata"]
    assert m.status == "error" and "broken-exif.jpg" in m.summary and "check metadata" in m.summary
    assert report["ela"].status in ("ok", "flagged") and report["c2pa"].status == "absent"


def test_huge_xmp_is_refused_before_parsing(ws, tmp_path: Path) -> None:
    xmp = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        + b"<!-- "
        + b"A" * (2 << 20)
        + b' --></x:xmpmeta><?xpacket end="w"?>'
    )
    buf = io.BytesIO()
    info = Image.fromarray(astronaut()[:64, :64]).convert("RGB")
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_itxt("XML:com.adobe.xmp", xmp.decode())
    info.save(buf, format="PNG", pnginfo=meta)
    f = tmp_path / "huge-xmp.png"
    f.write_bytes(buf.getvalue())
    report = checks.run_checks(ws, ws.ingest(f), ["metadata", "near_duplicates"])
    m = report["metadata"]
    assert (
        m.status == "error" and "huge-xmp.png" in m.summary and "over the 1,048,576-byte limit" in m.summary
    )
    assert report["near_duplicates"].status == "ok"


def test_heic_metadata_is_read(ws, tmp_path: Path) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    img = Image.fromarray(np.ascontiguousarray(astronaut()[:128, :128]))
    exif = img.getexif()
    exif[0x010F] = "HeifMaker"
    exif[0x8769] = {0x9003: "2023:03:01 09:15:00", 0x9011: "+01:00"}
    f = tmp_path / "photo.heic"
    try:
        img.save(f, format="HEIF", exif=exif.tobytes(), quality=80)
    except (OSError, KeyError, ValueError) as exc:  # an encoder-less libheif build cannot write the fixture
        pytest.skip(f"no HEIF encoder here: {exc}")
    r = checks.run_checks(ws, ws.ingest(f), ["metadata"])["metadata"]
    assert r.status == "ok", r.summary
    assert r.details["make"] == "HeifMaker" and r.details["capture_utc"] == "2023-03-01T08:15:00Z"


def test_nul_characters_in_a_finding_are_not_stored(ws, tmp_path: Path, monkeypatch) -> None:
    # PostgreSQL's text refuses NUL (the metadata fuzzer found EXIF/XMP strings carrying it there);
    # neither database keeps it. (exiv2 cuts EXIF strings at a NUL, so a check stands in for the reader.)
    from imint.checks import registry
    from imint.checks.base import CheckResult, CheckSpec

    def nul_laden(ctx):  # noqa: ANN001, ANN202
        return CheckResult("nul", "ok", "maker Acme\x00\x00", details={"software\x00": ["Edit\x00or"]})

    monkeypatch.setitem(registry.CHECKS, "nul", CheckSpec("nul", nul_laden, "NUL-laden finding"))
    ev = ws.ingest(
        exif_jpeg(
            tmp_path / "n.jpg",
            when="2024:07:10 14:30:00",
            lat=(50.0, 27.0, 0.0),
            lon=(30.0, 31.0, 24.0),
            lat_ref="N",
            lon_ref="E",
        )
    )
    checks.run_checks(ws, ev, ["nul"])
    stored = {s.check: s for s in checks.stored_results(ws, ev.sha256)}["nul"]
    assert (stored.summary, stored.details) == ("maker Acme", {"software": ["Editor"]})
