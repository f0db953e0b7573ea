"""The one ingest path: every file enters the workspace here.

It hashes the bytes, stores them once under ``objects/ab/cd/<sha256>`` (never
modified afterwards), reads metadata, and writes a custody entry, all before any
analyzer sees the file. Analyzers take the returned ``Evidence``, never a loose path.
"""

from __future__ import annotations

import errno
import hashlib
import mimetypes
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imint.errors import BadInputError, StorageError
from imint.media.metadata import read_metadata, sniff_kind
from imint.records import Evidence
from imint.store.models import CustodyEntry, EvidenceRow

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def object_path(objects_dir: Path, sha256: str) -> Path:
    return objects_dir / sha256[:2] / sha256[2:4] / sha256


TEMP_PREFIX = ".incoming-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_dead_temp_files(folder: Path) -> None:
    """Delete temp files of copies whose process died (``kill -9`` skips the cleanup below).

    The writer's pid is in the name, so a copy still running in another process is left alone.
    """
    for tmp in folder.glob(TEMP_PREFIX + "*"):
        pid = tmp.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or (int(pid) != os.getpid() and not _pid_alive(int(pid))):
            tmp.unlink(missing_ok=True)


def _copy_into_store(src: Path, dest: Path) -> None:
    """Copy atomically: a crash leaves either no object or a whole one, never half a file."""
    tmp = ""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _sweep_dead_temp_files(dest.parent)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-")
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageError(
                f"no space left on the device of the object store ({dest.parent}); nothing was stored",
                subject=src,
            ) from exc
        raise StorageError(f"cannot store the file ({exc.strerror or exc})", subject=src) from exc
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise


def row_to_evidence(row: EvidenceRow, objects_dir: Path, *, is_new: bool = False) -> Evidence:
    return Evidence(
        sha256=row.sha256,
        kind=row.kind,
        original_name=row.original_name,
        stored_path=str(object_path(objects_dir, row.sha256)),
        size_bytes=row.size_bytes,
        media_type=row.media_type,
        metadata=dict(row.metadata_ or {}),
        added_at=row.added_at,
        added_by=row.added_by,
        source=row.source,
        is_new=is_new,
    )


def ingest_file(
    session: Session,
    objects_dir: Path,
    path: str | Path,
    *,
    added_by: str = "",
    source: str = "",
    kind: str | None = None,
) -> Evidence:
    """Ingest one file and return its Evidence; the same bytes twice are stored once.

    A second ingest of the same bytes adds a ``seen-again`` custody entry (with the
    new name and source) instead of a second copy.
    """
    p = Path(path)
    if not p.exists():
        raise BadInputError("no such file", subject=p)
    if not p.is_file():
        raise BadInputError("not a regular file", subject=p)
    size = p.stat().st_size
    if size == 0:
        raise BadInputError("empty file (0 bytes)", subject=p)
    digest = sha256_file(p)
    row = session.get(EvidenceRow, digest)
    if row is not None:
        return _seen_again(session, objects_dir, row, p, added_by, source)

    detected_kind = kind or sniff_kind(p)
    metadata: dict[str, Any] = read_metadata(p, detected_kind)
    media_type = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    dest = object_path(objects_dir, digest)
    if not dest.exists():
        _copy_into_store(p, dest)
    row = EvidenceRow(
        sha256=digest,
        kind=detected_kind,
        media_type=media_type,
        original_name=p.name,
        size_bytes=size,
        metadata_=metadata,
        added_by=added_by,
        source=source,
    )
    if session.get_bind().dialect.name == "sqlite":
        # No savepoint here: pysqlite starts no transaction before a SAVEPOINT, so releasing it would
        # commit the caller's work early (an analysis that fails after ingest would leave its evidence).
        session.add(row)
        session.flush()  # the evidence row must exist before its custody entry references it
    else:
        try:
            # A savepoint: another writer (a second CLI, the server) may store the same bytes between our
            # look-up and this insert; its row wins and this ingest becomes a sighting, not an error.
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            existing = session.get(EvidenceRow, digest, populate_existing=True)
            if existing is None:
                raise
            return _seen_again(session, objects_dir, existing, p, added_by, source)
    session.add(
        CustodyEntry(
            evidence_sha256=digest,
            action="added",
            actor=added_by,
            details={"name": p.name, "from": str(p.resolve()), "source": source, "size": size},
        )
    )
    session.flush()
    return row_to_evidence(row, objects_dir, is_new=True)


def _seen_again(
    session: Session, objects_dir: Path, row: EvidenceRow, p: Path, added_by: str, source: str
) -> Evidence:
    session.add(
        CustodyEntry(
            evidence_sha256=row.sha256,
            action="seen-again",
            actor=added_by,
            details={"name": p.name, "from": str(p), "source": source},
        )
    )
    return row_to_evidence(row, objects_dir, is_new=False)


def log_custody(session: Session, sha256: str, action: str, actor: str = "", **details: Any) -> None:
    """Append one entry to the custody log (viewed, exported, linked, verified...)."""
    session.add(CustodyEntry(evidence_sha256=sha256, action=action, actor=actor, details=details))
