"""``imint backup`` / ``imint restore``: a consistent copy of a workspace.

The database is copied with SQLite's online backup API (``sqlite3.Connection.backup``), which
gives one consistent snapshot even while another process writes. Then exactly the objects that
snapshot names are copied (and re-hashed): objects are written before their row commits and never
change, so every row of the snapshot has its whole object. The vector index is not copied (it is
rebuilt from the database); exports are copied as they are. A backup is written into a temporary
folder next to ``dest`` and renamed at the end: an interrupted backup leaves no half-made one.

A workspace whose records are on a PostgreSQL server is refused: its database is backed up with
the server's own tools (``pg_dump`` / ``pg_restore``), its folder (the originals) as files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imint.errors import BadInputError, ConflictError, StorageError
from imint.media.ingest import object_path, sha256_file
from imint.store.doctor import integrity_problems, open_readonly

MANIFEST = "imint-backup.json"


@dataclass(frozen=True)
class BackupResult:
    path: str
    evidence: int
    objects_bytes: int
    exports: int

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _copy_database(src_db: Path, dest_db: Path) -> None:
    """Snapshot ``src_db`` into ``dest_db`` with the online backup API, as one self-contained file."""
    src = sqlite3.connect(f"file:{src_db}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(dest_db)
    try:
        with dst:
            src.backup(dst)  # all pages in one step: one read transaction, one consistent state
        dst.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy
        problems = integrity_problems(dst)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot copy the database ({exc})", subject=src_db) from exc
    finally:
        dst.close()
        src.close()
    if problems:
        raise StorageError("the copied database fails its integrity check: " + problems[0], subject=src_db)


def _copy_objects(src_root: Path, dest_root: Path, db: Path) -> tuple[int, int]:
    conn = open_readonly(db)
    try:
        hashes = [r[0] for r in conn.execute("SELECT sha256 FROM evidence").fetchall()]
    finally:
        conn.close()
    total = 0
    for sha in hashes:
        src, dst = object_path(src_root / "objects", sha), object_path(dest_root / "objects", sha)
        if not src.is_file():
            raise StorageError(f"the original of evidence {sha} is missing (run imint doctor)", subject=src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        if sha256_file(dst) != sha:
            raise StorageError(f"the original of evidence {sha} does not match its hash", subject=src)
        os.chmod(dst, 0o444)
        total += dst.stat().st_size
    return len(hashes), total


def _copy_exports(src_root: Path, dest_root: Path) -> int:
    src = src_root / "exports"
    n = 0
    for path in sorted(src.rglob("*")) if src.is_dir() else []:
        if path.is_file() and path.suffix != ".tmp":
            target = dest_root / "exports" / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            n += 1
    return n


def _build(src_root: Path, dest: Path, *, exports: bool, kind: str) -> BackupResult:
    """Copy ``src_root`` to a new folder ``dest`` through a temporary sibling folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.{kind}-"))
    try:
        for sub in ("objects", "index", "exports"):
            (tmp / sub).mkdir()
        _copy_database(src_root / "imint.db", tmp / "imint.db")
        n, size = _copy_objects(src_root, tmp, tmp / "imint.db")
        n_exports = _copy_exports(src_root, tmp) if exports else 0
        manifest = {
            "source": str(src_root),
            "made_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "evidence": n,
            "objects_bytes": size,
            "exports": n_exports,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if dest.exists():
            dest.rmdir()  # checked empty by the caller
        tmp.rename(dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError(f"cannot write the copy ({exc.strerror or exc})", subject=dest) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BackupResult(str(dest), n, size, n_exports)


def refuse_server_database(database_url: str, what: str) -> None:
    """``imint backup`` and ``restore`` copy an SQLite file: say what to do on a database server instead."""
    if not database_url or database_url.startswith("sqlite"):
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        shown = make_url(database_url).render_as_string()  # the password masked
    except ArgumentError:
        shown = "the database URL"
    tool = "pg_dump -Fc" if what == "backup" else "pg_restore"
    raise BadInputError(
        f"imint {what} copies SQLite workspaces; the records of this one are on a database server "
        f"({shown}): {what} them with {tool} (see docs/team-server.md) and copy the workspace folder "
        "(objects/) as files",
        subject="database_url",
    )


def backup_workspace(
    workspace: str | Path, dest: str | Path, *, exports: bool = True, database_url: str = ""
) -> BackupResult:
    """Copy the workspace at ``workspace`` to the new (or empty) folder ``dest``.

    ``database_url`` is the workspace's ``Settings.database_url``; a server's is refused (pg_dump).
    """
    refuse_server_database(database_url, "backup")
    src_root = Path(workspace).expanduser().resolve()
    dest = Path(dest).expanduser().resolve()
    if not (src_root / "imint.db").is_file():
        raise BadInputError("not a workspace (no imint.db)", subject=src_root)
    if dest.exists() and not _is_empty_dir(dest):
        raise ConflictError("the backup folder exists and is not empty", subject=dest)
    if dest == src_root or src_root in dest.parents:
        raise BadInputError("the backup folder must be outside the workspace", subject=dest)
    return _build(src_root, dest, exports=exports, kind="backup")


def restore_workspace(
    source: str | Path, workspace: str | Path, *, force: bool = False, database_url: str = ""
) -> BackupResult:
    """Make ``workspace`` a copy of the backup at ``source``.

    A non-empty ``workspace`` is refused unless ``force``; with ``force`` the old workspace is
    not deleted but moved aside to ``<workspace>.before-restore-<time>``. A ``database_url`` of a
    server is refused (pg_restore): the copy would land in imint.db, not where the records are read.
    """
    refuse_server_database(database_url, "restore")
    src_root = Path(source).expanduser().resolve()
    target = Path(workspace).expanduser().resolve()
    if not (src_root / "imint.db").is_file():
        raise BadInputError("not a backup (no imint.db)", subject=src_root)
    conn = open_readonly(src_root / "imint.db")
    try:
        problems = integrity_problems(conn)
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    finally:
        conn.close()
    if problems:
        raise StorageError("the backup's database is damaged: " + problems[0], subject=src_root)
    occupied = target.exists() and not _is_empty_dir(target)
    if occupied and not force:
        raise ConflictError(
            "the workspace exists and is not empty (use --force to replace it)", subject=target
        )
    staged = target.with_name(f".{target.name}.restore-{os.getpid()}")
    result = _build(src_root, staged, exports=True, kind="restore")
    if occupied:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        target.rename(target.with_name(f"{target.name}.before-restore-{stamp}"))
    elif target.exists():
        target.rmdir()
    staged.rename(target)
    (target / MANIFEST).unlink(missing_ok=True)
    return BackupResult(str(target), result.evidence, result.objects_bytes, result.exports)
