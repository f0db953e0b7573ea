"""A full disk during ingest: a clear error naming the file, and the store as it was.

The real thing where the machine allows it (a 2 MB tmpfs mounted on the workspace's objects/,
root only); everywhere, the same fault injected where the object store writes (ENOSPC).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imint.cases import verify_evidence
from imint.cli import app
from imint.errors import StorageError
from imint.workspace import Workspace
from tests.db_support import doctor


def store_state(ws: Workspace) -> tuple[list[str], list[tuple[str, str]], list[Path]]:
    evidence = sorted(e.sha256 for e in ws.list_evidence())
    from imint.cases.evidence import custody_log

    custody = [(c.evidence_sha256, c.action) for c in custody_log(ws)]
    files = sorted(p for p in ws.objects_dir.rglob("*") if p.is_file())
    return evidence, custody, files


def assert_refused_and_intact(ws: Workspace, big: Path, before: tuple) -> None:
    with pytest.raises(StorageError, match="no space left") as caught:
        ws.ingest(big, source="a big file")
    assert big.name in str(caught.value)
    assert store_state(ws) == before  # no evidence row, no custody entry, no partial object
    assert not [p for p in ws.objects_dir.rglob(".incoming-*")]
    assert all(r.ok for r in verify_evidence(ws))


@pytest.fixture
def tmpfs_objects(tmp_path):
    """A workspace whose objects/ is a 2 MB tmpfs (skipped where mounting is not allowed)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    objects = tmp_path / "ws" / "objects"
    objects.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(objects)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield tmp_path / "ws"
    finally:
        subprocess.run(["umount", str(objects)], check=False)


def test_a_full_tmpfs_refuses_the_file_and_keeps_the_store(tmp_path, tmpfs_objects):
    small, big = tmp_path / "note.txt", tmp_path / "satellite-dump.bin"
    small.write_text("a small note that fits")
    big.write_bytes(os.urandom(3 * 1024 * 1024))  # more than the 2 MB the store has
    ws = Workspace(tmpfs_objects, user="tester")
    ws.ingest(small)
    before = store_state(ws)
    assert_refused_and_intact(ws, big, before)
    before = store_state(ws)  # with the "verified" entries the check above logged

    r = CliRunner().invoke(app, ["evidence", "add", str(big), "-w", str(tmpfs_objects)])
    said = " ".join(r.output.split())  # the console wraps long lines
    assert r.exit_code == StorageError.exit_code and "no space left" in said
    assert big.name in "".join(r.output.split())
    assert store_state(ws) == before
    # The store still takes what fits, and the doctor finds nothing wrong.
    other = tmp_path / "other.txt"
    other.write_text("another small note")
    assert ws.ingest(other).is_new
    report = doctor(tmpfs_objects)
    assert report.ok and not report.findings, report.to_dict()


def test_enospc_at_the_object_copy_is_a_clear_error(tmp_path, monkeypatch):
    import imint.media.ingest as ingest

    small, big = tmp_path / "note.txt", tmp_path / "scan.tif"
    small.write_text("kept")
    big.write_bytes(b"II*\x00" + os.urandom(200_000))
    ws = Workspace(tmp_path / "ws", user="tester")
    ws.ingest(small)
    before = store_state(ws)
    real_copy = shutil.copyfileobj

    def copy_until_full(src, dst, length=0):  # noqa: ANN001 - shutil's signature
        dst.write(src.read(65536))  # some bytes land in the temp file before the disk fills
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ingest.shutil, "copyfileobj", copy_until_full)
    assert_refused_and_intact(ws, big, before)
    monkeypatch.setattr(ingest.shutil, "copyfileobj", real_copy)
    assert ws.ingest(big).is_new  # with space again, the same file goes in
