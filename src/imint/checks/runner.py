"""Run checks on one evidence file and store what they found, in one transaction.

A check that fails on this file (a truncated JPEG, a broken EXIF block) is stored as status ``error``
with a message naming the file and the check; the other checks still run. Re-running a check on an
evidence replaces its earlier row and heat map; the custody log gets one ``checked`` entry per run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from imint.checks.base import CheckContext, CheckResult, CheckSpec, not_applicable
from imint.checks.heatmaps import render, write_png
from imint.checks.registry import CHECKS, GROUPS
from imint.checks.tables import CheckResultRow
from imint.errors import ImintError, ValidationError
from imint.media.ingest import log_custody
from imint.records import Evidence
from imint.store.db import utcnow

if TYPE_CHECKING:
    from imint.workspace import Workspace


@dataclass
class CheckReport:
    """Every result of one run on one evidence file."""

    evidence: Evidence
    results: list[CheckResult] = field(default_factory=list)

    def __getitem__(self, check: str) -> CheckResult:
        for r in self.results:
            if r.check == check:
                return r
        raise KeyError(check)

    @property
    def flagged(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "flagged"]

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "evidence": {"sha256": self.evidence.sha256, "name": self.evidence.original_name},
            "results": [r.to_dict() for r in self.results],
        }


def resolve_checks(checks: list[str] | tuple[str, ...] | None) -> list[CheckSpec]:
    """Check names (or group names such as ``forensics``) to specs, in registry order; unknown names refused."""
    if checks is None:
        return [spec for spec in CHECKS.values() if spec.group != "manual"]
    wanted: set[str] = set()
    for name in checks:
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in CHECKS:
            wanted.add(name)
        else:
            known = ", ".join([*CHECKS, *GROUPS])
            raise ValidationError(f"unknown check {name!r}; known: {known}", subject="check")
    return [spec for spec in CHECKS.values() if spec.name in wanted]


def artifact_path(ws: Workspace, sha256: str, check: str) -> Path:
    return ws.exports_dir / "checks" / sha256 / f"{check}.png"


def _run_one(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    if ctx.kind not in spec.kinds:
        return not_applicable(spec.name, ctx.evidence)
    try:
        # A savepoint: a check that fails half way leaves nothing of its own in the session.
        with ctx.session.begin_nested():
            result = spec.function(ctx)
    except ImintError as exc:
        message = str(exc) if ctx.name in str(exc) else f"{ctx.name} [check {spec.name}]: {exc}"
        return CheckResult(
            spec.name, "error", message, details={"error": message, "error_type": type(exc).__name__}
        )
    except Exception as exc:  # noqa: BLE001 - one broken check must not stop the others
        message = f"{ctx.name} [check {spec.name}]: {type(exc).__name__}: {exc}"
        return CheckResult(
            spec.name, "error", message, details={"error": message, "error_type": "unexpected"}
        )
    result.check = spec.name
    return result


def run_checks_in_session(
    ws: Workspace,
    session: Session,
    evidence: Evidence,
    checks: list[str] | tuple[str, ...] | None = None,
    *,
    just_stored: bool = False,
) -> CheckReport:
    """Run and store inside a caller's transaction (the ingest hook uses this); heat maps move in last.

    ``just_stored``: the caller's transaction has just inserted the evidence row (the ingest hook), so it
    has no stored results to replace and no stored hash to look up."""
    specs = resolve_checks(checks)
    ctx = CheckContext(ws, evidence, session, just_stored=just_stored)
    report = CheckReport(evidence)
    staging: Path | None = None  # made for the first heat map (the ingest's cheap checks draw none)
    moves: list[tuple[Path, Path]] = []
    try:
        now = utcnow()
        for spec in specs:
            result = _run_one(spec, ctx)
            result.evidence_sha256, result.created_at = evidence.sha256, now
            final = artifact_path(ws, evidence.sha256, spec.name)
            if result.heatmap is not None:
                rgb = ctx.decoded_rgb()
                background = rgb if rgb is not None and rgb.shape[:2] == result.heatmap.shape else None
                if staging is None:
                    staging = Path(
                        tempfile.mkdtemp(prefix=".staging-", dir=_ensure(ws.exports_dir / "checks"))
                    )
                tmp = staging / f"{spec.name}.png"
                write_png(tmp, render(result.heatmap, background))
                moves.append((tmp, final))
                result.artifact = str(final.relative_to(ws.path))
            report.results.append(result)
        if not just_stored:
            names = [spec.name for spec in specs]
            session.execute(
                delete(CheckResultRow).where(
                    CheckResultRow.evidence_sha256 == evidence.sha256, CheckResultRow.check.in_(names)
                )
            )
            session.flush()
        # One INSERT of every result (not one statement per row object): nothing here reads their ids.
        if report.results:
            session.execute(
                insert(CheckResultRow),
                [
                    {
                        "evidence_sha256": evidence.sha256,
                        "check": r.check,
                        "status": r.status,
                        "score": r.score,
                        "summary": _without_nul(r.summary),
                        "details": _jsonable(r.details),
                        "artifact": r.artifact,
                        "method": r.method,
                        "created_at": r.created_at,
                        "created_by": ws.user,
                    }
                    for r in report.results
                ],
            )
        log_custody(
            session, evidence.sha256, "checked", ws.user, checks={r.check: r.status for r in report.results}
        )
        session.flush()
        # Heat maps of checks that no longer make one are removed; new ones replace old ones.
        for spec in specs:
            if not any(final.name == f"{spec.name}.png" for _, final in moves):
                artifact_path(ws, evidence.sha256, spec.name).unlink(missing_ok=True)
        for tmp, final in moves:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return report


def run_checks(
    ws: Workspace, evidence: Evidence | str, checks: list[str] | tuple[str, ...] | None = None
) -> CheckReport:
    """Run ``checks`` (names or groups; default every automatic check) on one evidence and store the results."""
    ev = evidence if isinstance(evidence, Evidence) else ws.evidence(evidence)
    with ws.session() as s:
        return run_checks_in_session(ws, s, ev, checks)


def stored_results(ws: Workspace, sha256: str) -> list[CheckResult]:
    """What the last runs stored for this evidence, in check order."""
    order = {name: i for i, name in enumerate(CHECKS)}
    with ws.session() as s:
        rows = s.scalars(select(CheckResultRow).where(CheckResultRow.evidence_sha256 == sha256)).all()
        results = [row_to_result(r) for r in rows]
    return sorted(results, key=lambda r: order.get(r.check, len(order)))


def row_to_result(row: CheckResultRow) -> CheckResult:
    return CheckResult(
        check=row.check,
        status=row.status,
        summary=row.summary,
        score=row.score,
        details=dict(row.details or {}),
        method=row.method,
        artifact=row.artifact,
        created_at=row.created_at,
        evidence_sha256=row.evidence_sha256,
        id=row.id,
    )


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _without_nul(text: str) -> str:
    # EXIF and XMP strings come NUL-padded or NUL-laden; PostgreSQL's text refuses the NUL character
    # (found by the metadata fuzzer on PostgreSQL), so neither database keeps it.
    return text.replace("\x00", "")


def _jsonable(value: Any) -> Any:
    """Details as JSON: numpy numbers to Python numbers, tuples to lists, no NUL characters."""
    import numpy as np

    if isinstance(value, str):
        return _without_nul(value)
    if isinstance(value, dict):
        return {_without_nul(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.hex()
    return value
