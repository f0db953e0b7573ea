"""run_checks: one stored row per check, re-runs replace, a failing check is an error row naming file and check."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from imint import checks
from imint.checks.tables import CheckResultRow
from imint.errors import ValidationError
from imint.store.models import CustodyEntry
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, jpeg_bytes, open_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


def test_migration_creates_the_checks_tables(ws) -> None:
    tables = set(inspect(ws.db.engine).get_table_names())
    assert {"check_results", "image_hashes", "shadow_markings"} <= tables


def test_the_checks_branch_downgrades_and_upgrades_alone(ws) -> None:
    from alembic import command

    cfg = ws.db.alembic_config()
    command.downgrade(cfg, "checks@-1")  # one step down the checks branch: the shadow markings go
    tables = set(inspect(ws.db.engine).get_table_names())
    assert "shadow_markings" not in tables and {"check_results", "image_hashes"} <= tables
    command.downgrade(cfg, "checks@-1")  # and the first: the whole checks branch; the shared core stays
    tables = set(inspect(ws.db.engine).get_table_names())
    assert not {"check_results", "image_hashes", "shadow_markings"} & tables and "evidence" in tables
    command.upgrade(cfg, "heads")
    assert {"check_results", "image_hashes", "shadow_markings"} <= set(
        inspect(ws.db.engine).get_table_names()
    )


def test_run_stores_one_row_per_check_and_rerun_replaces(ws, tmp_path: Path) -> None:
    f = tmp_path / "astro.jpg"
    f.write_bytes(jpeg_bytes(astronaut(), 85))
    ev = ws.ingest(f)
    report = checks.run_checks(ws, ev)
    names = [r.check for r in report.results]
    assert names == list(checks.CHECKS)
    assert all(r.status in checks.STATUSES for r in report.results)
    assert report["ela"].artifact and (ws.path / report["ela"].artifact).is_file()
    assert report["ela"].artifact.startswith("exports/checks/")
    checks.run_checks(ws, ev.sha256)
    with ws.session() as s:
        rows = s.scalars(select(CheckResultRow).where(CheckResultRow.evidence_sha256 == ev.sha256)).all()
        assert sorted(r.check for r in rows) == sorted(names)  # replaced, not doubled
        checked = s.scalars(
            select(CustodyEntry).where(
                CustodyEntry.evidence_sha256 == ev.sha256, CustodyEntry.action == "checked"
            )
        ).all()
        # one run at ingest (the cheap checks), then the two full runs, each on record
        assert len(checked) == 3
    stored = checks.stored_results(ws, ev.sha256)
    assert [r.check for r in stored] == names
    # A subset run replaces only those checks' rows.
    checks.run_checks(ws, ev, ["ela"])
    assert len(checks.stored_results(ws, ev.sha256)) == len(names)


def test_truncated_jpeg_gives_errors_naming_file_and_check_and_others_still_run(ws, tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(astronaut(), 85))
    good_ev = ws.ingest(good)
    checks.run_checks(ws, good_ev)
    before = [(r.check, r.status, r.summary) for r in checks.stored_results(ws, good_ev.sha256)]

    data = jpeg_bytes(astronaut(), 85)
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(data[: len(data) // 3])
    ev = ws.ingest(bad)
    report = checks.run_checks(ws, ev)
    errors = {r.check: r.summary for r in report.errors}
    assert {"ela", "noise", "copy_move", "jpeg"} <= set(errors)
    for check, message in errors.items():
        assert "cut.jpg" in message and f"check {check}" in message
        assert report[check].details["error_type"] == "CheckError"  # an ImintError, not a crash
    assert report["c2pa"].status == "absent"  # other checks still ran
    # The stored original is untouched and nothing of the good file changed.
    assert hashlib.sha256(Path(ev.stored_path).read_bytes()).hexdigest() == ev.sha256
    assert [(r.check, r.status, r.summary) for r in checks.stored_results(ws, good_ev.sha256)] == before


def test_a_run_of_no_checks_stores_nothing_new_and_keeps_what_was_there(ws, tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(jpeg_bytes(astronaut(), 85))
    ev = ws.ingest(f)
    before = checks.stored_results(ws, ev.sha256)  # the cheap checks run at ingest
    report = checks.run_checks(ws, ev, [])
    assert report.results == []
    assert checks.stored_results(ws, ev.sha256) == before


def test_unknown_check_name_is_refused_before_anything_runs(ws, tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(jpeg_bytes(astronaut(), 85))
    ev = ws.ingest(f)
    before = checks.stored_results(ws, ev.sha256)  # the cheap checks run at ingest
    with pytest.raises(ValidationError, match="unknown check 'elax'"):
        checks.run_checks(ws, ev, ["elax"])
    assert checks.stored_results(ws, ev.sha256) == before


def test_a_check_that_fails_half_way_leaves_nothing_of_its_own(ws, tmp_path: Path, monkeypatch) -> None:
    from imint.checks import registry
    from imint.checks.base import CheckSpec
    from imint.checks.tables import ImageHashRow

    def half_done(ctx):  # noqa: ANN001, ANN202
        ctx.session.add(
            ImageHashRow(evidence_sha256=ctx.evidence.sha256, method="junk", hash_hex="0", mirror_hex="0")
        )
        ctx.session.flush()
        raise RuntimeError("boom")

    monkeypatch.setitem(
        registry.CHECKS, "half_done", CheckSpec("half_done", half_done, "fails after a write")
    )
    f = tmp_path / "a.jpg"
    f.write_bytes(jpeg_bytes(astronaut()[:64, :64], 85))
    ev = ws.ingest(f)
    report = checks.run_checks(ws, ev, ["near_duplicates", "half_done"])
    assert report["half_done"].status == "error"
    assert report["half_done"].summary == "a.jpg [check half_done]: RuntimeError: boom"
    with ws.session() as s:
        assert [h.method for h in s.scalars(select(ImageHashRow))] == ["phash-64"]  # the junk row is gone
