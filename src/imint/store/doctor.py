"""``imint doctor``: check a workspace and say what is wrong and what can be recovered.

It reads the workspace with ``sqlite3`` directly, never through ``Workspace``: opening a
``Workspace`` migrates the database, and a damaged file must be looked at, not written to.
Checks: the database opens and passes ``PRAGMA integrity_check`` and ``foreign_key_check``
(orphan rows), the append-only triggers are in place, every evidence row has its object with
the right SHA-256, no object lies in the store without a row, no temp file is left by an
interrupted write, and each saved vector index holds exactly the reference faces of the database.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from imint.media.ingest import object_path, sha256_file
from imint.store.index import FaissIndex, stamp_of

# Tables whose rows are a record of what happened: refused UPDATE and DELETE by these triggers.
APPEND_ONLY_TRIGGERS = {
    "custody_log": ("custody_log_no_update", "custody_log_no_delete"),
    "audit_log": ("audit_log_no_update", "audit_log_no_delete"),
}
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


def check_workspace(path: str | Path, *, hash_objects: bool = True) -> DoctorReport:
    """Check the workspace at ``path``; ``hash_objects=False`` only checks that objects exist."""
    root = Path(path).expanduser().resolve()
    report = DoctorReport(str(root))
    db_path = root / "imint.db"
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
        known = _check_objects(conn, root, report, hash_objects=hash_objects)
        _check_stray_objects(root, known, report)
        _check_index(conn, root, report)
    conn.close()
    _check_temp_files(root, report)
    return report


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


def _check_objects(
    conn: sqlite3.Connection, root: Path, report: DoctorReport, *, hash_objects: bool
) -> set[str]:
    try:
        rows = conn.execute("SELECT sha256, original_name FROM evidence").fetchall()
    except sqlite3.DatabaseError as exc:
        report.add("error", "objects", "evidence", f"cannot list evidence ({exc})", "restore from a backup")
        return set()
    report.checked["evidence"] = len(rows)
    for sha, name in rows:
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
    return {sha for sha, _ in rows}


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


def _index_models(conn: sqlite3.Connection) -> dict[str, np.ndarray] | None:
    """Reference face ids by model slug, as ``FacesService.reference_index`` names its files."""
    try:
        rows = conn.execute(
            "SELECT faces.model_id, reference_photos.face_id FROM reference_photos "
            "JOIN faces ON faces.id = reference_photos.face_id"
        ).fetchall()
    except sqlite3.DatabaseError:
        return None  # no faces part in this workspace, or its tables unreadable (reported above)
    by_slug: dict[str, list[int]] = {}
    for model_id, face_id in rows:
        slug = model_id.replace("/", "_").replace("+", "-").replace(":", "")
        by_slug.setdefault(slug, []).append(int(face_id))
    return {slug: np.array(sorted(ids), np.int64) for slug, ids in by_slug.items()}


def _check_index(conn: sqlite3.Connection, root: Path, report: DoctorReport) -> None:
    refs = _index_models(conn)
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
