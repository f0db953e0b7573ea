"""Tables of the web UI and REST API: users, API tokens, login sessions, audit log, jobs.

Secrets are never stored: passwords as argon2 hashes, API tokens and session
cookies as SHA-256 digests of high-entropy random strings (a stolen database
does not let anyone log in). The audit log is append-only: SQLite triggers
refuse UPDATE and DELETE, as for the custody log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imint.store.db import Base, utcnow

ROLES = ("viewer", "analyst", "admin")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer, analyst, admin
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    last_login_at: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ApiToken(Base):
    """A bearer token for scripts; only its SHA-256 is kept, and its first characters for display."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    last_used_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    expires_at: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: never expires
    revoked_at: Mapped[str | None] = mapped_column(String(32), nullable=True)


class WebSession(Base):
    """A browser login: the cookie holds a random secret, the row its SHA-256 and CSRF token."""

    __tablename__ = "web_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    expires_at: Mapped[str] = mapped_column(String(32))
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    """Who did what, when, from where. Append-only (SQLite triggers refuse edits and deletions)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_actor_at", "actor", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[str] = mapped_column(String(32), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))  # user name, or the name tried for a failed login
    role: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(48), index=True)  # login, search, enroll, confirm...
    target: Mapped[str] = mapped_column(Text, default="")  # what it was done to: a hash, a person...
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok, failed, denied
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")
    via: Mapped[str] = mapped_column(String(16), default="")  # session, token, cli
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Job(Base):
    """Long work (a folder, a video, a scene) run in the background; its progress is a row,
    so it survives a server restart and the job is resumed where it stopped."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # queued, running, done, failed, cancelling (asked to stop), cancelled
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # >1 when resumed after a restart
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    started_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    finished_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
