"""Evidence integrity and custody, on top of the workspace's one ingest path.

``verify_evidence`` re-hashes stored originals and compares each with the hash it
is filed under: a changed byte, a truncated or missing file is caught, and every
check is written to the append-only custody log as ``verified`` with its outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from imint.media.ingest import sha256_file
from imint.records import Evidence
from imint.store.models import CustodyEntry
from imint.workspace import Workspace


@dataclass(frozen=True)
class IntegrityCheck:
    """One stored original re-hashed: does it still match the hash it is filed under?"""

    sha256: str
    original_name: str
    status: str  # ok, modified, missing
    actual_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CustodyRecord:
    id: int
    evidence_sha256: str
    action: str
    actor: str
    at: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_evidence(
    ws: Workspace, hashes: Iterable[str] | None = None, *, on_progress: Any = None
) -> list[IntegrityCheck]:
    """Re-hash stored originals (all, or those given by hash or unique prefix); log each check."""
    if hashes is None:
        targets = [(e.sha256, e.original_name) for e in ws.list_evidence()]
    else:
        targets = [(e.sha256, e.original_name) for e in (ws.evidence(h) for h in hashes)]
    results: list[IntegrityCheck] = []
    for sha, name in targets:
        path = ws.object_path(sha)
        if not path.is_file():
            result = IntegrityCheck(sha, name, "missing")
        else:
            actual = sha256_file(path)
            result = IntegrityCheck(sha, name, "ok" if actual == sha else "modified", actual)
        details: dict[str, Any] = {"result": result.status}
        if result.status == "modified":
            details["actual_sha256"] = result.actual_sha256
        ws.log_custody(sha, "verified", **details)
        results.append(result)
        if on_progress:
            on_progress(result)
    return results


def custody_log(ws: Workspace, sha256s: Iterable[str] | None = None) -> list[CustodyRecord]:
    """Custody entries in the order written (for some evidence, or all)."""
    with ws.session() as s:
        q = s.query(CustodyEntry).order_by(CustodyEntry.id)
        if sha256s is not None:
            q = q.filter(CustodyEntry.evidence_sha256.in_(list(sha256s)))
        return [
            CustodyRecord(e.id, e.evidence_sha256, e.action, e.actor, e.at, dict(e.details or {}))
            for e in q.all()
        ]


def show_evidence(
    ws: Workspace, sha256: str, *, log_view: bool = True
) -> tuple[Evidence, list[CustodyRecord]]:
    """An evidence file's record and its custody history; looking is itself logged ('viewed')."""
    evidence = ws.evidence(sha256)
    if log_view:
        ws.log_custody(evidence.sha256, "viewed", via="imint evidence show")
    return evidence, custody_log(ws, [evidence.sha256])
