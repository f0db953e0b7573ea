"""The audit log: who searched, enrolled, confirmed, exported or logged in, when and from where.

Rows are only ever added (SQLite triggers refuse UPDATE and DELETE).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imint.store.models_api import AuditEntry


def record(
    s: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    role: str = "",
    outcome: str = "ok",
    ip: str = "",
    user_agent: str = "",
    via: str = "",
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor[:128],
        role=role,
        action=action,
        target=str(target)[:2000],
        outcome=outcome,
        ip=ip[:64],
        user_agent=user_agent[:512],
        via=via,
        details=details,
    )
    s.add(entry)
    s.flush()
    return entry


def entries(
    s: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    limit: int = 200,
    before_id: int | None = None,
) -> list[AuditEntry]:
    """Newest first. ``since`` is an ISO 8601 UTC time or date prefix ("2026-11-26")."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 5000)))
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if action:
        q = q.where(AuditEntry.action == action)
    if since:
        q = q.where(AuditEntry.at >= since)
    if before_id:
        q = q.where(AuditEntry.id < before_id)
    return list(s.scalars(q))


def to_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "target": e.target,
        "outcome": e.outcome,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "via": e.via,
        "details": e.details,
    }
