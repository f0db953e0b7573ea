"""Accounts: users with roles, argon2 passwords, API tokens and login sessions.

Only hashes are stored. A password goes through argon2 (slow on purpose); a token
or session secret is 256 random bits, so a plain SHA-256 of it is enough and keeps
each request cheap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from imint.errors import ConflictError, NotFoundError, ValidationError
from imint.store.db import utcnow
from imint.store.models_api import ROLES, ApiToken, User, WebSession

ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
SESSION_HOURS = 12
TOKEN_PREFIX = "imint_"

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so a failed login takes
# as long for an unknown name as for a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class Principal:
    """Who is making a request, and how they proved it."""

    user_id: int
    name: str
    role: str
    via: str  # "session" or "token"
    csrf_token: str = ""  # only for sessions

    def has_role(self, needed: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise ValidationError(f"unknown role; use one of {', '.join(ROLES)}", subject="role")
    return role


def add_user(s: Session, name: str, password: str, role: str, *, created_by: str = "") -> User:
    if not USERNAME_RE.match(name or ""):
        raise ValidationError(
            "a user name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            subject="name",
        )
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", subject="password"
        )
    _check_role(role)
    if s.scalar(select(User).where(User.name == name)) is not None:
        raise ConflictError("a user with this name exists", subject=name)
    user = User(name=name, role=role, password_hash=_hasher.hash(password), created_by=created_by)
    s.add(user)
    s.flush()
    return user


def get_user(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFoundError("no such user", subject=name)
    return user


def set_password(s: Session, name: str, password: str) -> User:
    """A new password; every login session of the user ends (API tokens stay)."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", subject="password"
        )
    user = get_user(s, name)
    user.password_hash = _hasher.hash(password)
    for sess in s.scalars(select(WebSession).where(WebSession.user_id == user.id)):
        s.delete(sess)
    return user


def set_role(s: Session, name: str, role: str) -> User:
    user = get_user(s, name)
    user.role = _check_role(role)
    return user


def set_disabled(s: Session, name: str, disabled: bool) -> User:
    user = get_user(s, name)
    user.disabled = disabled
    if disabled:  # a disabled account is logged out everywhere at once
        for sess in s.scalars(select(WebSession).where(WebSession.user_id == user.id)):
            s.delete(sess)
    return user


def check_password(s: Session, name: str, password: str) -> User | None:
    """The user when the name and password match an enabled account, else None."""
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def create_token(s: Session, user: User, label: str = "") -> tuple[ApiToken, str]:
    """A new API token for ``user``; the secret is returned once and never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, label=label[:128], token_sha256=sha256_hex(secret), prefix=secret[:12])
    s.add(row)
    s.flush()
    return row, secret


def revoke_token(s: Session, token_id: int, *, owner_id: int | None = None) -> ApiToken:
    row = s.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        raise NotFoundError("no such token", subject=str(token_id))
    row.revoked_at = row.revoked_at or utcnow()
    return row


def principal_from_token(s: Session, secret: str) -> Principal | None:
    row = s.scalar(select(ApiToken).where(ApiToken.token_sha256 == sha256_hex(secret)))
    if row is None or row.revoked_at:
        return None
    user = s.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    now = utcnow()
    if row.last_used_at != now:  # one write per second at most, not one per request
        row.last_used_at = now
    return Principal(user.id, user.name, user.role, "token")


def _in_hours(hours: int) -> str:
    t = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=hours)
    return t.isoformat().replace("+00:00", "Z")


def create_session(s: Session, user: User, *, ip: str = "", user_agent: str = "") -> tuple[str, str]:
    """Log ``user`` in: returns (cookie secret, CSRF token)."""
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    s.add(
        WebSession(
            id_sha256=sha256_hex(secret),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=_in_hours(SESSION_HOURS),
            ip=ip[:64],
            user_agent=user_agent[:512],
        )
    )
    user.last_login_at = utcnow()
    return secret, csrf


def principal_from_session(s: Session, secret: str) -> Principal | None:
    row = s.get(WebSession, sha256_hex(secret))
    if row is None:
        return None
    if row.expires_at <= utcnow():
        s.delete(row)
        return None
    user = s.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return Principal(user.id, user.name, user.role, "session", row.csrf_token)


def end_session(s: Session, secret: str) -> None:
    row = s.get(WebSession, sha256_hex(secret))
    if row is not None:
        s.delete(row)
