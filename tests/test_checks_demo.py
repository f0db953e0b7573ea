"""The sample case of `make run` shows the checks on its evidence: the mirrored working copy is found as a
near-duplicate of the original, and the report's checks cards render."""

from __future__ import annotations

import pytest

from imint import checks
from imint.demo import run_demo
from imint.workspace import Workspace
from tests.db_support import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="the SQLite demo workspace that `make run` builds")


@pytest.mark.slow
def test_demo_case_shows_the_checks_on_its_evidence(tmp_path_factory) -> None:
    ws_dir = tmp_path_factory.mktemp("demo") / "imint-demo"
    paths = run_demo(ws_dir, pdf=False)
    with Workspace(ws_dir) as ws:
        by_name = {ev.original_name: ev for ev in ws.list_evidence()}
        original, copy = by_name["grace_hopper.jpg"], by_name["grace_hopper_mirrored_working_copy.jpg"]
        dup = {r.check: r for r in checks.stored_results(ws, copy.sha256)}["near_duplicates"]
    assert dup.status == "flagged", dup.summary
    matches = {m["sha256"]: m for m in dup.details["matches"]}
    assert original.sha256 in matches and matches[original.sha256]["mirrored"] is True
    assert by_name["astronaut_eileen_collins.png"].sha256 not in matches  # a different photo is not
    html = paths.html.read_text()
    assert f"Checks on {copy.original_name}" in html and f"Checks on {original.original_name}" in html
    assert "near_duplicates: flagged" in html
