"""``imint doctor``: check a workspace and say what is wrong and what can be recovered.

It reads the workspace's database directly, never through ``Workspace``: opening a
``Workspace`` migrates the database, and a damaged one must be looked at, not written to.
Checks: the database opens and passes ``PRAGMA integrity_check`` and ``foreign_key_check``
(orphan rows), the append-only triggers are in place, every evidence row has its object with
the right SHA-256, no object lies in the store without a row, no temp file is left by an
interrupted write, and each saved vector index holds exactly the reference faces of the database.

On a PostgreSQL workspace (``database_url``) the server keeps its own files whole and enforces
foreign keys itself, so the database checks are: it answers (read-only session), its schema is
there, no foreign key is left unvalidated or disabled, and the append-only triggers exist and are
enabled; the checks of the folder (objects, temp files, index) are the same.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imint.media.ingest import object_path, sha256_file
from imint.store.index import FaissIndex, stamp_of

# Tables whose rows are a record of what happened: refused UPDATE and DELETE by these triggers
# (imint.store.append_only: two per table on SQLite, row and TRUNCATE triggers on PostgreSQL).
APPEND_ONLY_TRIGGERS = {
    "custody_log": ("custody_log_no_update", "custody_log_no_delete"),
    "audit_log": ("audit_log_no_update", "audit_log_no_delete"),
}
APPEND_ONLY_TRIGGERS_PG = {
    "custody_log": ("custody_log_no_change", "custody_log_no_truncate"),
    "audit_log": ("audit_log_no_change", "audit_log_no_truncate"),
}
# A query on the database under check: its rows, or ``DatabaseUnreadable`` raised.
Rows = Callable[[str], list[tuple[Any, ...]]]


class DatabaseUnreadable(Exception):
    """A query of the doctor failed (a damaged file, a missing table, a lost server connection)."""


TEMP_PATTERNS = {"objects": (".incoming-*",), "exports": ("*.tmp",), "index": ("*.tmp",)}


@dataclass(frozen=True)
class Finding:
    """One thing found wrong: ``severity`` is "error" (data damaged or lost) or "warning" (harmless)."""

    severity: str
    check: str
    subject: str
    problem: str
    recovery: str


@dataclass
class DoctorReport:
    workspace: str
    checked: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def add(self, severity: str, check: str, subject: object, problem: str, recovery: str) -> None:
        self.findings.append(Finding(severity, check, str(subject), problem, recovery))

    def to_dict(self) -> dict[str, object]:
        return {
            "workspace": self.workspace,
            "ok": self.ok,
            "checked": self.checked,
            "findings": [asdict(f) for f in self.findings],
        }


def open_readonly(db_path: Path) -> sqlite3.Connection:
    """The database file opened read-only (``mode=ro``), so that a check never changes it."""
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """What ``PRAGMA integrity_check`` reports (empty when the file is whole)."""
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def _sqlite_rows(conn: sqlite3.Connection) -> Rows:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.DatabaseError as exc:
            raise DatabaseUnreadable(str(exc)) from exc

    return rows


def check_workspace(path: str | Path, *, database_url: str = "", hash_objects: bool = True) -> DoctorReport:
    """Check the workspace at ``path``; ``hash_objects=False`` only checks that objects exist.

    ``database_url`` is the workspace's ``Settings.database_url``: empty (or ``sqlite://``) means
    ``<path>/imint.db``, a PostgreSQL URL the server database that holds its records.
    """
    root = Path(path).expanduser().resolve()
    report = DoctorReport(str(root))
    if database_url and not database_url.startswith("sqlite"):
        _check_server_workspace(root, database_url, report, hash_objects=hash_objects)
        _check_temp_files(root, report)
        return report
    db_path = _sqlite_file(root, database_url)
    if not db_path.is_file():
        report.add("error", "database", db_path, "no database file", "restore the workspace from a backup")
        return report
    try:
        conn = open_readonly(db_path)
        problems = integrity_problems(conn)
    except sqlite3.DatabaseError as exc:
        report.add(
            "error",
            "database",
            db_path,
            f"the database cannot be read ({exc})",
            "restore from a backup (imint restore); the originals in objects/ are intact and can be re-added",
        )
        _check_temp_files(root, report)
        return report
    with conn:
        if problems:
            report.add(
                "error",
                "database",
                db_path,
                "integrity check failed: " + "; ".join(problems[:5]),
                "restore from a backup (imint restore); `sqlite3 imint.db .recover` may salvage the "
                "readable rows; the originals in objects/ are intact and can be re-added",
            )
        _check_tables(conn, report)
        rows = _sqlite_rows(conn)
        known = _check_objects(rows, root, report, hash_objects=hash_objects)
        _check_stray_objects(root, known, report)
        _check_index(rows, root, report)
    conn.close()
    _check_temp_files(root, report)
    return report


def _sqlite_file(root: Path, database_url: str) -> Path:
    """The SQLite file of a workspace: ``<root>/imint.db``, or the file a ``sqlite:///`` URL names."""
    if not database_url:
        return root / "imint.db"
    from sqlalchemy.engine import make_url

    name = make_url(database_url).database
    return Path(name).expanduser().resolve() if name else root / "imint.db"


def _check_server_workspace(
    root: Path, database_url: str, report: DoctorReport, *, hash_objects: bool
) -> None:
    """The checks of a workspace whose records are on a PostgreSQL server."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from imint.store.db import engine_for_url

    engine = engine_for_url(database_url)  # refuses a URL it cannot use (BadInputError)
    shown = engine.url.render_as_string()  # the password masked
    try:
        # Autocommit: a failed query (a missing table) must not abort the ones after it.
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT", postgresql_readonly=True)
    except SQLAlchemyError as exc:
        engine.dispose()
        report.add(
            "error",
            "database",
            shown,
            f"the database server cannot be reached or refuses the login ({_first_line(exc)})",
            "check that the server runs and the URL (--database-url / IMINT_DATABASE_URL); to recover, "
            "restore its pg_dump backup with pg_restore: the originals in objects/ are intact",
        )
        return

    def rows(sql: str) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in conn.execute(text(sql))]
        except SQLAlchemyError as exc:
            raise DatabaseUnreadable(_first_line(exc)) from exc

    try:
        if not rows("SELECT to_regclass('evidence'), to_regclass('alembic_version')")[0][1]:
            report.add(
                "error",
                "database",
                shown,
                "no imint tables in this database (never opened as a workspace, or emptied)",
                "check the URL; to recover, restore its pg_dump backup with pg_restore",
            )
            return
        _check_server_tables(rows, report)
        known = _check_objects(rows, root, report, hash_objects=hash_objects)
        _check_stray_objects(root, known, report)
        _check_index(rows, root, report)
    finally:
        conn.close()
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _check_server_tables(rows: Rows, report: DoctorReport) -> None:
    """Foreign keys the server does not enforce, and the append-only triggers (present and enabled)."""
    unenforced = rows(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = current_schema() AND contype = 'f' AND NOT convalidated"
    )
    report.checked["foreign_keys"] = 1
    for table, name in unenforced:
        report.add(
            "error",
            "rows",
            f"{table} ({name})",
            "a foreign key is not validated: rows may refer to missing ones",
            "find the orphan rows, then ALTER TABLE ... VALIDATE CONSTRAINT",
        )
    enabled = {
        (table, name)
        for table, name in rows(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'"
        )
    }
    tables = {t for (t,) in rows("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    for table, triggers in APPEND_ONLY_TRIGGERS_PG.items():
        missing = [t for t in triggers if (table, t) not in enabled]
        if table in tables and missing:
            report.add(
                "error",
                "append-only",
                table,
                f"append-only trigger(s) missing or disabled: {', '.join(missing)}",
                "the log can have been changed: compare it with a backup; re-create the triggers",
            )


def _check_tables(conn: sqlite3.Connection, report: DoctorReport) -> None:
    try:
        orphans = conn.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.DatabaseError as exc:
        report.add("error", "rows", "imint.db", f"cannot check references ({exc})", "restore from a backup")
        return
    report.checked["foreign_keys"] = 1
    for table, rowid, parent, _fk in orphans[:50]:
        report.add(
            "error",
            "rows",
            f"{table} row {rowid}",
            f"refers to a missing {parent} row",
            "restore from a backup, or remove the orphan row with an SQLite tool",
        )
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall()}
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()}
    for table, triggers in APPEND_ONLY_TRIGGERS.items():
        missing = [t for t in triggers if t not in names]
        if table in tables and missing:
            report.add(
                "error",
                "append-only",
                table,
                f"append-only trigger(s) missing: {', '.join(missing)}",
                "the log can have been changed: compare it with a backup; re-create the triggers",
            )


def _check_objects(rows: Rows, root: Path, report: DoctorReport, *, hash_objects: bool) -> set[str]:
    try:
        evidence = rows("SELECT sha256, original_name FROM evidence")
    except DatabaseUnreadable as exc:
        report.add("error", "objects", "evidence", f"cannot list evidence ({exc})", "restore from a backup")
        return set()
    report.checked["evidence"] = len(evidence)
    for sha, name in evidence:
        path = object_path(root / "objects", sha)
        if not path.is_file():
            report.add(
                "error",
                "objects",
                f"{sha} ({name})",
                "the original is missing from objects/",
                "restore it from a backup, or add the same file again (same bytes, same hash)",
            )
        elif hash_objects and sha256_file(path) != sha:
            report.add(
                "error",
                "objects",
                f"{sha} ({name})",
                "the stored original was modified (its SHA-256 differs)",
                "restore it from a backup; the record and its custody log are kept",
            )
    return {sha for sha, _ in evidence}


def _check_stray_objects(root: Path, known: set[str], report: DoctorReport) -> None:
    objects = root / "objects"
    if not objects.is_dir():
        return
    for path in objects.glob("??/??/*"):
        if path.is_file() and not path.name.startswith(".") and path.name not in known:
            report.add(
                "warning",
                "objects",
                path.relative_to(root),
                "an object without an evidence row (an ingest interrupted before it committed)",
                "harmless: adding the same file again adopts it; or delete it",
            )


def _check_temp_files(root: Path, report: DoctorReport) -> None:
    for folder, patterns in TEMP_PATTERNS.items():
        base = root / folder
        for pattern in patterns:
            for path in sorted(base.rglob(pattern)) if base.is_dir() else []:
                report.add(
                    "warning",
                    "temp-files",
                    path.relative_to(root),
                    "a temporary file left by an interrupted write",
                    "harmless: delete it (imint doctor --repair)",
                )


def _index_models(rows: Rows) -> dict[str, np.ndarray] | None:
    """Reference face ids by model slug, as ``FacesService.reference_index`` names its files."""
    try:
        references = rows(
            "SELECT faces.model_id, reference_photos.face_id FROM reference_photos "
            "JOIN faces ON faces.id = reference_photos.face_id"
        )
    except DatabaseUnreadable:
        return None  # no faces part in this workspace, or its tables unreadable (reported above)
    by_slug: dict[str, list[int]] = {}
    for model_id, face_id in references:
        slug = model_id.replace("/", "_").replace("+", "-").replace(":", "")
        by_slug.setdefault(slug, []).append(int(face_id))
    return {slug: np.array(sorted(ids), np.int64) for slug, ids in by_slug.items()}


def _check_index(rows: Rows, root: Path, report: DoctorReport) -> None:
    refs = _index_models(rows)
    index_dir = root / "index"
    if refs is None or not index_dir.is_dir():
        return
    files = sorted(index_dir.glob("faces-*.faiss"))
    report.checked["index_files"] = len(files)
    for path in files:
        slug = path.stem.removeprefix("faces-")
        ids = refs.get(slug, np.zeros((0,), np.int64))
        index = FaissIndex.load(path, stamp_of(ids))
        if index is None or not np.array_equal(np.sort(index.ids()), ids):
            saved = _saved_count(path)
            report.add(
                "warning",
                "index",
                path.relative_to(root),
                f"stale or unreadable: it holds {saved} vectors, the database {len(ids)} reference faces",
                "rebuilt from the database on the next search (or delete it: imint doctor --repair)",
            )


def _saved_count(path: Path) -> str:
    try:
        return str(json.loads(path.with_suffix(".json").read_text())["n"])
    except (OSError, ValueError, KeyError):
        return "an unknown number of"


def repair(report: DoctorReport) -> list[str]:
    """Do the harmless repairs: delete temp files and stale index files (rebuilt on use).

    Never touches the database or an original; returns what it removed.
    """
    root = Path(report.workspace)
    removed: list[str] = []
    for f in report.findings:
        if f.check not in ("temp-files", "index"):
            continue
        path = root / f.subject
        for p in (path, path.with_suffix(".json")) if f.check == "index" else (path,):
            if p.is_file():
                p.unlink()
                removed.append(str(p.relative_to(root)))
    return removed
