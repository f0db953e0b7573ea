"""``imint doctor``, ``imint backup`` and ``imint restore`` on real workspaces."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imint.cli import app
from imint.store.backup import backup_workspace, restore_workspace
from imint.store.doctor import check_workspace
from imint.workspace import Workspace
from tests.db_support import ON_POSTGRES, child_env, database_url, doctor, execute

# A server that no test starts: the refusals below must come before any connection.
NO_SERVER_URL = "postgresql+psycopg://imint:secret@127.0.0.1:9/imint"

runner = CliRunner()


def imint(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def workspace_with_files(root: Path, n: int = 3) -> tuple[Path, list[str]]:
    ws_path = root / "ws"
    with Workspace(ws_path, user="tester") as ws:
        shas = []
        for i in range(n):
            f = root / f"note{i}.txt"
            f.write_text(f"field note {i}\n" * (i + 1))
            shas.append(ws.ingest(f, source="test").sha256)
    return ws_path, shas


def doctor_json(ws: Path) -> tuple[int, dict]:
    r = imint("doctor", "--json", "-w", ws)
    return r.exit_code, json.loads(r.stdout)


def test_a_healthy_workspace_passes(tmp_path):
    ws, _ = workspace_with_files(tmp_path)
    code, report = doctor_json(ws)
    assert code == 0 and report["ok"] and report["findings"] == [] and report["checked"]["evidence"] == 3


def test_a_missing_object_is_reported_with_its_recovery(tmp_path):
    ws, shas = workspace_with_files(tmp_path)
    with Workspace(ws) as w:
        w.object_path(shas[1]).unlink()
    code, report = doctor_json(ws)
    assert code == 1 and not report["ok"]
    (finding,) = report["findings"]
    assert (
        finding["check"] == "objects" and shas[1] in finding["subject"] and "note1.txt" in finding["subject"]
    )
    assert "missing" in finding["problem"] and "same file again" in finding["recovery"]


def test_a_modified_object_and_leftovers_are_reported(tmp_path):
    ws, shas = workspace_with_files(tmp_path)
    with Workspace(ws) as w:
        path = w.object_path(shas[0])
    os.chmod(path, 0o644)
    path.write_text("changed")
    stray = path.parent / ".incoming-999999-abc"
    stray.write_text("half")
    report = doctor(ws)
    kinds = sorted((f.severity, f.check) for f in report.findings)
    assert kinds == [("error", "objects"), ("warning", "temp-files")]
    r = imint("doctor", "--repair", "-w", ws)
    assert r.exit_code == 1 and "modified" in r.output and not stray.exists()


def test_a_missing_append_only_trigger_is_reported(tmp_path):
    ws, _ = workspace_with_files(tmp_path, n=1)
    trigger = "custody_log_no_change" if ON_POSTGRES else "custody_log_no_update"
    execute(ws, f"DROP TRIGGER {trigger}" + (" ON custody_log" if ON_POSTGRES else ""))  # as the owner can
    code, report = doctor_json(ws)
    assert code == 1 and not report["ok"]
    (finding,) = report["findings"]
    assert (finding["check"], finding["subject"]) == ("append-only", "custody_log")
    assert trigger in finding["problem"] and "re-create the triggers" in finding["recovery"]


def test_the_doctor_says_when_the_database_server_cannot_be_reached(tmp_path):
    ws, _ = workspace_with_files(tmp_path, n=1)
    r = imint("--database-url", NO_SERVER_URL, "doctor", "--json", "-w", ws)
    assert r.exit_code == 1, r.output
    (finding,) = json.loads(r.stdout)["findings"]
    assert finding["check"] == "database" and "cannot be reached" in finding["problem"]
    assert "secret" not in r.stdout and "pg_restore" in finding["recovery"]


def test_the_doctor_reports_a_server_database_without_imint_tables(tmp_path):
    if not ON_POSTGRES:
        pytest.skip("needs the PostgreSQL of scripts/pg_test.sh")
    (tmp_path / "empty").mkdir()
    report = check_workspace(tmp_path / "empty", database_url=database_url(tmp_path / "empty"))
    assert not report.ok and "no imint tables" in report.findings[0].problem


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_refuse_a_server_database_and_name_its_tools(tmp_path, command):
    ws, _ = workspace_with_files(tmp_path, n=1)
    target = tmp_path / "copy"
    args = (target, "-w", ws) if command == "backup" else (ws, "-w", target)
    urls = [NO_SERVER_URL] + ([None] if ON_POSTGRES else [])  # None: the workspace's own server database
    for url in urls:
        r = imint(*(["--database-url", url] if url else []), command, *args)
        said = " ".join(r.output.split())
        assert r.exit_code == 2, r.output
        assert ("pg_dump" if command == "backup" else "pg_restore") in said and "copy the workspace" in said
        assert "secret" not in said and not target.exists()
    with pytest.raises(Exception, match="database server"):
        backup_workspace(ws, target, database_url=NO_SERVER_URL)


@pytest.mark.sqlite_only(reason="corrupts pages of the imint.db file and checks SQLite's integrity_check")
def test_a_damaged_database_is_reported_not_opened_for_writing(tmp_path):
    ws, _ = workspace_with_files(tmp_path, n=40)
    with Workspace(ws) as w:
        w.db.engine.dispose()
    conn = sqlite3.connect(ws / "imint.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    db = ws / "imint.db"
    data = bytearray(db.read_bytes())
    page = 4096
    for start in range(2 * page, len(data) - page, 3 * page):  # overwrite bytes in several pages
        data[start + 100 : start + 1100] = os.urandom(1000)
    db.write_bytes(bytes(data))
    damaged = db.read_bytes()
    code, report = doctor_json(ws)
    assert code == 1 and not report["ok"]
    first = report["findings"][0]
    assert first["check"] == "database" and first["severity"] == "error"
    assert "imint restore" in first["recovery"]
    assert db.read_bytes() == damaged  # the doctor only read it


@pytest.mark.sqlite_only(reason="overwrites the imint.db file")
def test_an_unreadable_database_file_is_reported(tmp_path):
    ws, _ = workspace_with_files(tmp_path, n=1)
    (ws / "imint.db").write_bytes(b"this is not a database" * 100)
    for side in ("imint.db-wal", "imint.db-shm"):
        (ws / side).unlink(missing_ok=True)
    code, report = doctor_json(ws)
    assert code == 1 and report["findings"][0]["check"] == "database"
    assert "cannot be read" in report["findings"][0]["problem"]


@pytest.mark.sqlite_only(reason="imint backup/restore copy imint.db (on a server they refuse: tested above)")
def test_backup_and_restore_give_a_workspace_that_verifies(tmp_path):
    ws, shas = workspace_with_files(tmp_path)
    r = imint("backup", tmp_path / "bak", "-w", ws)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "bak" / "imint-backup.json").read_text())["evidence"] == 3
    assert imint("backup", tmp_path / "bak", "-w", ws).exit_code == 4  # not over an existing backup

    restored = tmp_path / "restored"
    r = imint("restore", tmp_path / "bak", "-w", restored)
    assert r.exit_code == 0, r.output
    r = imint("evidence", "verify", "-w", restored)
    assert r.exit_code == 0 and "3 of 3 originals intact" in r.output
    with Workspace(restored) as w:
        assert sorted(e.sha256 for e in w.list_evidence()) == sorted(shas)

    # Not over a non-empty workspace without --force; with it, the old one is kept aside.
    r = imint("restore", tmp_path / "bak", "-w", ws)
    assert r.exit_code == 4 and "--force" in r.output
    r = imint("restore", tmp_path / "bak", "-w", ws, "--force")
    assert r.exit_code == 0, r.output
    assert [p.name.startswith("ws.before-restore-") for p in tmp_path.iterdir()].count(True) == 1
    assert check_workspace(ws).ok


@pytest.mark.sqlite_only(reason="damages the imint.db of a backup")
def test_restore_refuses_a_damaged_backup(tmp_path):
    ws, _ = workspace_with_files(tmp_path)
    backup_workspace(ws, tmp_path / "bak")
    (tmp_path / "bak" / "imint.db").write_bytes(b"garbage" * 500)
    r = imint("restore", tmp_path / "bak", "-w", tmp_path / "new")
    assert r.exit_code == 5 and "damaged" in r.output
    assert not (tmp_path / "new").exists()


_WRITER = """
import sys, time
from pathlib import Path
from imint.settings import Settings
from imint.workspace import Workspace

ws = Workspace(settings=Settings.from_env(workspace=sys.argv[1], user="writer"))
folder = Path(sys.argv[2])
for i in range(100000):
    f = folder / f"w{i}.txt"
    f.write_text(f"written while a backup runs {i}\\n" * 50)
    ws.ingest(f, source="writer")
    # Atomically: the test kills this process at any moment and then reads the count.
    (folder / "count.tmp").write_text(str(i + 1))
    (folder / "count.tmp").replace(folder / "count")
"""


@pytest.mark.sqlite_only(reason="SQLite's online backup API while another process writes")
def test_a_backup_taken_while_another_process_writes_restores_whole(tmp_path):
    ws, _ = workspace_with_files(tmp_path, n=2)
    folder = tmp_path / "incoming"
    folder.mkdir()
    env = child_env(ws)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(ws), str(folder)], env=env)
    try:
        deadline = time.monotonic() + 240
        while not (folder / "count").exists() or int((folder / "count").read_text() or 0) < 5:
            assert writer.poll() is None and time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.1)
        results = [backup_workspace(ws, tmp_path / f"bak{i}") for i in range(3)]
        assert writer.poll() is None, "the writer stopped while the backups ran"
    finally:
        writer.kill()
        writer.wait()
    written = int((folder / "count").read_text())
    assert [r.evidence for r in results] == sorted(r.evidence for r in results)
    assert 2 + 5 <= results[0].evidence and results[-1].evidence <= 2 + written + 1
    for i, result in enumerate(results):
        target = tmp_path / f"restored{i}"
        restore_workspace(tmp_path / f"bak{i}", target)
        r = imint("evidence", "verify", "--json", "-w", target)
        assert r.exit_code == 0, r.output
        assert len(json.loads(r.stdout)) == result.evidence
        report = check_workspace(target)
        assert report.ok and not report.findings, report.to_dict()


@pytest.mark.sqlite_only(reason="imint backup copies imint.db (on a server it refuses: tested above)")
def test_backup_refuses_a_folder_inside_the_workspace(tmp_path):
    ws, _ = workspace_with_files(tmp_path, n=1)
    with pytest.raises(Exception, match="outside the workspace"):
        backup_workspace(ws, ws / "exports" / "bak")
