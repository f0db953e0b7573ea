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
