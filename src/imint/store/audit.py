"""The audit log: who searched, enrolled, confirmed, exported or logged in, when and from where.

Rows are only ever added (SQLite triggers refuse UPDATE and DELETE). The web app and the
command line write through ``log`` (or ``record`` inside a transaction of their own) and read
through ``read``, so an action is on record whichever door it came through.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imint.store.models_api import AuditEntry

MAX_ENTRIES = 5000


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
    """Append one entry inside the caller's transaction."""
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


def log(ws: Any, **entry: Any) -> None:
    """Append one entry in a transaction of its own (``entry``: the keywords of ``record``)."""
    with ws.session() as s:
        record(s, **entry)


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
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, MAX_ENTRIES)))
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if action:
        q = q.where(AuditEntry.action == action)
    if since:
        q = q.where(AuditEntry.at >= since)
    if before_id:
        q = q.where(AuditEntry.id < before_id)
    return list(s.scalars(q))


def read(
    ws: Any,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The entries as dicts, newest first (what ``imint audit`` prints and /audit shows)."""
    with ws.session() as s:
        return [to_dict(e) for e in entries(s, actor=actor, action=action, since=since, limit=limit)]


def count_recent(
    ws: Any,
    *,
    action: str,
    outcome: str,
    minutes: float,
    actor: str | None = None,
    ip: str | None = None,
) -> int:
    """How many entries of ``action`` with ``outcome`` in the last ``minutes``, for one actor and/or IP.

    The login rate limit reads the log itself, so it holds across server restarts and processes.
    """
    since = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=minutes)
    q = (
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == action,
            AuditEntry.outcome == outcome,
            AuditEntry.at >= since.isoformat().replace("+00:00", "Z"),
        )
    )
    if actor is not None:
        q = q.where(AuditEntry.actor == actor)
    if ip is not None:
        q = q.where(AuditEntry.ip == ip)
    with ws.session() as s:
        return int(s.scalar(q) or 0)


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
