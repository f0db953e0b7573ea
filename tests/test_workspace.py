"""The workspace: one ingest path, content addressing, an append-only custody log."""

import pytest

from imint.errors import BadInputError
from imint.workspace import Workspace
from tests.db_support import RefusedByDatabase, execute, query


def test_same_bytes_are_stored_once_and_logged_twice(tmp_path):
    ws = Workspace(tmp_path / "ws")
    f = tmp_path / "note.txt"
    f.write_text("hello")
    first = ws.ingest(f)
    second = ws.ingest(f)
    assert first.sha256 == second.sha256
    assert first.is_new and not second.is_new
    assert len(ws.list_evidence()) == 1
    actions = [a for (a,) in query(ws, "select action from custody_log order by id")]
    assert actions == ["added", "seen-again"]


def test_custody_log_refuses_edits(tmp_path):
    ws = Workspace(tmp_path / "ws")
    f = tmp_path / "a.bin"
    f.write_bytes(b"\x00\x01")
    ws.ingest(f)
    with pytest.raises(RefusedByDatabase, match="append-only"):
        execute(ws, "delete from custody_log")
    with pytest.raises(RefusedByDatabase, match="append-only"):
        execute(ws, "update custody_log set actor='mallory'")
    assert query(ws, "select actor from custody_log") == [(ws.user,)]


def test_empty_and_missing_files_are_refused_by_name(tmp_path):
    ws = Workspace(tmp_path / "ws")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(BadInputError, match="empty.jpg.*0 bytes"):
        ws.ingest(empty)
    with pytest.raises(BadInputError, match="nope.jpg"):
        ws.ingest(tmp_path / "nope.jpg")
    assert ws.list_evidence() == []


def test_reopening_keeps_records(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("x")
    sha = Workspace(tmp_path / "ws").ingest(f).sha256
    again = Workspace(tmp_path / "ws")
    assert again.evidence(sha[:12]).sha256 == sha


def test_the_database_url_flag_moves_the_records_and_not_the_originals(tmp_path):
    from typer.testing import CliRunner

    from imint.cli import app
    from imint.settings import Settings

    ws_dir, records = tmp_path / "ws", tmp_path / "elsewhere" / "records.db"
    records.parent.mkdir()
    url = f"sqlite:///{records}"
    runner = CliRunner()
    r = runner.invoke(app, ["--database-url", url, "case", "new", "c1", "--workspace", str(ws_dir)])
    assert r.exit_code == 0, r.output
    assert records.is_file() and (ws_dir / "objects").is_dir()
    with Workspace(settings=Settings(workspace=ws_dir, database_url=url)) as ws:
        assert ws.db.path == records
        assert [c for (c,) in query(ws, "select name from cases")] == ["c1"]
    # The flag holds for one invocation only: the next one without it uses the workspace's own database.
    r = runner.invoke(app, ["case", "list", "--json", "--workspace", str(ws_dir)])
    assert r.exit_code == 0 and '"c1"' not in r.output
    bad = runner.invoke(app, ["--database-url", "oracle://x@127.0.0.1/y", "case", "list", "-w", str(ws_dir)])
    assert bad.exit_code == 2 and "database_url" in bad.output and "not supported" in bad.output
