"""near_duplicates and first_seen: a resized, re-encoded, mirrored copy is found; another photo is not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imint import checks
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, chelsea, coffee, jpeg_bytes, open_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


def test_mirrored_resized_recompressed_copy_is_a_near_duplicate_and_another_photo_is_not(
    ws, tmp_path: Path
) -> None:
    original = tmp_path / "original.png"
    Image.fromarray(astronaut()).save(original)
    copy = tmp_path / "copy.jpg"
    small = Image.fromarray(astronaut()[:, ::-1]).resize((300, 300), Image.Resampling.BILINEAR)
    copy.write_bytes(jpeg_bytes(np.asarray(small), 60))
    other = tmp_path / "cat.jpg"
    other.write_bytes(jpeg_bytes(chelsea(), 90))
    third = tmp_path / "coffee.jpg"
    third.write_bytes(jpeg_bytes(coffee(), 90))

    ev_orig = ws.ingest(original, source="https://example.org/first")
    ev_other = ws.ingest(other)
    ws.ingest(third)
    ev_copy = ws.ingest(copy, source="https://example.org/repost")
    for ev in (ev_orig, ev_other):
        checks.run_checks(ws, ev, ["near_duplicates"])
    report = checks.run_checks(ws, ev_copy, ["near_duplicates", "first_seen"])

    nd = report["near_duplicates"]
    assert nd.status == "flagged"
    matches = {m["sha256"]: m for m in nd.details["matches"]}
    assert set(matches) == {ev_orig.sha256}  # the cat and the coffee are not copies
    assert matches[ev_orig.sha256]["mirrored"] is True
    assert matches[ev_orig.sha256]["distance"] <= 4

    fs = report["first_seen"].details
    assert fs["earliest_ingest"]["sha256"] == ev_orig.sha256
    sources = {s.get("source") for c in fs["copies"] for s in c["sources"]}
    assert {"https://example.org/first", "https://example.org/repost"} <= sources

    other_report = checks.run_checks(ws, ev_other, ["near_duplicates"])
    assert other_report["near_duplicates"].status == "ok"


def test_a_video_is_matched_by_its_keyframes_and_a_different_photo_is_not(ws, tmp_path: Path) -> None:
    from tests.video_clips import write_clip

    # A 4 s clip: 2 s of the astronaut, then 2 s of the coffee cup.
    frames = [astronaut()[:256, :256]] * 20 + [coffee()[:256, :256]] * 20
    clip = write_clip(tmp_path / "clip.mp4", frames, fps=10)
    still = tmp_path / "still-from-the-clip.jpg"  # a frame, mirrored, shrunk and re-encoded
    small = Image.fromarray(coffee()[:256, :256][:, ::-1]).resize((180, 180), Image.Resampling.BILINEAR)
    still.write_bytes(jpeg_bytes(np.asarray(small), 70))
    unrelated = tmp_path / "cat.jpg"
    unrelated.write_bytes(jpeg_bytes(chelsea(), 90))
    ev_clip = ws.ingest(clip, source="https://example.org/video")
    assert ev_clip.kind == "video"
    ev_cat = ws.ingest(unrelated)

    report = checks.run_checks(ws, ev_clip, ["near_duplicates", "first_seen"])
    nd = report["near_duplicates"]
    assert nd.status == "ok", nd.summary  # nothing like it yet (the cat is not)
    assert 3 <= len(nd.details["keyframes"]) <= 16
    ev_still = ws.ingest(still, source="https://example.org/screenshot")  # its cheap checks run at ingest
    found = {r.check: r for r in checks.stored_results(ws, ev_still.sha256)}["near_duplicates"]
    assert found.status == "flagged" and [m["sha256"] for m in found.details["matches"]] == [ev_clip.sha256]
    assert found.details["matches"][0]["mirrored"] is True
    again = checks.run_checks(ws, ev_clip, ["near_duplicates", "first_seen"])
    assert [m["sha256"] for m in again["near_duplicates"].details["matches"]] == [ev_still.sha256]
    assert ev_cat.sha256 not in {c["sha256"] for c in again["first_seen"].details["copies"]}
    assert again["first_seen"].details["earliest_ingest"]["sha256"] == ev_clip.sha256


def test_a_truncated_video_is_an_error_naming_the_file_and_the_check(ws, tmp_path: Path) -> None:
    from tests.video_clips import write_clip

    clip = write_clip(tmp_path / "full.mp4", [astronaut()[:128, :128]] * 30, fps=10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[:1500])
    report = checks.run_checks(ws, ws.ingest(cut), ["near_duplicates", "metadata"])
    r = report["near_duplicates"]
    assert r.status == "error" and "cut.mp4" in r.summary and "check near_duplicates" in r.summary
    assert report["metadata"].status == "absent"  # not an image: said so, not run


def test_copies_ingested_in_one_transaction_find_each_other_and_one_scan_serves_both_checks(
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch (one transaction) finds the copies it wrote itself, as photos ingested one at a time do; each
    check runs in a savepoint, whose release once dropped the session's hashes. The near-duplicate and
    first-seen checks of one photo share one scan of the stored hashes."""
    from imint.checks import duplicates
    from imint.checks.tables import CheckResultRow

    original = tmp_path / "original.png"
    Image.fromarray(astronaut()).save(original)
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(jpeg_bytes(np.asarray(Image.fromarray(astronaut()).resize((256, 256))), 70))
    scans = []
    real_scan = duplicates._scan
    monkeypatch.setattr(
        duplicates, "_scan", lambda *a: scans.append(a[1][0].evidence_sha256) or real_scan(*a)
    )
    with ws.session() as s:
        ev_orig = ws.ingest(original, session=s)
        ev_copy = ws.ingest(copy, session=s)
    assert scans == [ev_orig.sha256, ev_copy.sha256]
    with ws.session() as s:
        stored = {
            r.check: r.details
            for r in s.query(CheckResultRow).filter_by(evidence_sha256=ev_copy.sha256)
            if r.check in ("near_duplicates", "first_seen")
        }
    assert [m["sha256"] for m in stored["near_duplicates"]["matches"]] == [ev_orig.sha256]
    assert stored["first_seen"]["earliest_ingest"]["sha256"] == ev_orig.sha256
    assert {c["sha256"] for c in stored["first_seen"]["copies"]} == {ev_orig.sha256, ev_copy.sha256}
