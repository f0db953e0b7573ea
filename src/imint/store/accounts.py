"""Accounts: users with roles, argon2 passwords, API tokens and login sessions.

Only hashes are stored. A password goes through argon2 (slow on purpose); a token
or session secret is 256 random bits, so a plain SHA-256 of it is enough and keeps
each request cheap.

Two layers: functions taking a SQLAlchemy ``Session`` (to compose inside one transaction),
and ``Accounts(ws)``, which opens its own transaction per call and returns plain dicts.
The web routes and the ``imint users`` / ``imint tokens`` commands call ``Accounts``, so both
doors do the same thing.

Security rules kept here, not in the web layer:
- a token may expire (``expires_at``); an expired or revoked token authenticates nobody;
- a password change, a password reset and disabling an account end every login session of the user;
- a disabled user's tokens and sessions authenticate nobody.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from imint.errors import ConflictError, NotFoundError, ValidationError
from imint.store import audit
from imint.store.db import utcnow
from imint.store.models_api import ROLES, ApiToken, User, WebSession

ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
SESSION_HOURS = 12
TOKEN_PREFIX = "imint_"
# Tokens made by `imint tokens create` and on /account expire after this many days unless asked
# otherwise; 0 means "never" (for a service account whose owner rotates it by hand).
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 3650
# Login throttling, counted from the audit log's failed logins: per name (a guessed password for one
# account) and per client address (one address trying many names; higher, as offices share one).
MAX_FAILED_LOGINS = 10
MAX_FAILED_LOGINS_PER_IP = 30
LOCKOUT_MINUTES = 15

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


def _utc_in(**delta: float) -> str:
    t = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(**delta)
    return t.isoformat().replace("+00:00", "Z")


def _check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise ValidationError(f"unknown role; use one of {', '.join(ROLES)}", subject="role")
    return role


def _check_password_rule(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", subject="password"
        )


def _end_sessions(s: Session, user_id: int) -> None:
    s.execute(delete(WebSession).where(WebSession.user_id == user_id))


# -- session-level functions (compose inside one transaction) ----------------------------------
def add_user(s: Session, name: str, password: str, role: str, *, created_by: str = "") -> User:
    if not USERNAME_RE.match(name or ""):
        raise ValidationError(
            "a user name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            subject="name",
        )
    _check_password_rule(password)
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
    _check_password_rule(password)
    user = get_user(s, name)
    user.password_hash = _hasher.hash(password)
    _end_sessions(s, user.id)
    return user


def set_role(s: Session, name: str, role: str) -> User:
    user = get_user(s, name)
    user.role = _check_role(role)
    return user


def set_disabled(s: Session, name: str, disabled: bool) -> User:
    user = get_user(s, name)
    user.disabled = disabled
    if disabled:  # a disabled account is logged out everywhere at once
        _end_sessions(s, user.id)
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


def _check_token_days(expires_days: int | None) -> int | None:
    if expires_days is None or expires_days == 0:
        return None
    if not 0 < expires_days <= MAX_TOKEN_DAYS:
        raise ValidationError(
            f"a token lives 1 to {MAX_TOKEN_DAYS} days (0: never expires)", subject="expires_days"
        )
    return expires_days


def create_token(
    s: Session, user: User, label: str = "", *, expires_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new API token for ``user``; the secret is returned once and never stored.

    ``expires_days`` None or 0: the token never expires (revoke it to end it).
    """
    days = _check_token_days(expires_days)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        label=label[:128],
        token_sha256=sha256_hex(secret),
        prefix=secret[:12],
        expires_at=_utc_in(days=days) if days else None,
    )
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
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        return None
    user = s.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    if row.last_used_at != now:  # one write per second at most, not one per request
        row.last_used_at = now
    return Principal(user.id, user.name, user.role, "token")


def create_session(s: Session, user: User, *, ip: str = "", user_agent: str = "") -> tuple[str, str]:
    """Log ``user`` in: returns (cookie secret, CSRF token)."""
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    s.add(
        WebSession(
            id_sha256=sha256_hex(secret),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=_utc_in(hours=SESSION_HOURS),
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


def user_dict(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "role": u.role,
        "disabled": u.disabled,
        "created_at": u.created_at,
        "created_by": u.created_by,
        "last_login_at": u.last_login_at,
    }


def token_dict(t: ApiToken, user: str | None = None) -> dict[str, Any]:
    data = {
        "id": t.id,
        "label": t.label,
        "prefix": t.prefix,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
    }
    if user is not None:
        data["user"] = user
    return data


def login_refusal(ws: Any, name: str, ip: str) -> str | None:
    """Why a login attempt is refused before its password is checked (None: let it try).

    Even the right password waits out the lockout, so a guesser learns nothing from it.
    """
    failed = {"action": "login", "outcome": "failed", "minutes": LOCKOUT_MINUTES}
    if audit.count_recent(ws, actor=name, **failed) >= MAX_FAILED_LOGINS:
        return f"too many failed logins for this name; wait {LOCKOUT_MINUTES} minutes or ask an admin"
    if ip and audit.count_recent(ws, ip=ip, **failed) >= MAX_FAILED_LOGINS_PER_IP:
        return f"too many failed logins from this address; wait {LOCKOUT_MINUTES} minutes"
    return None


# -- the workspace-level service: one transaction per call ---------------------------------------
@dataclass(frozen=True)
class Login:
    """A successful login: the cookie secret to set, and who it is."""

    secret: str
    user: str
    role: str


class Accounts:
    """Users, tokens and sessions of one workspace (anything with ``.session()``)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    # users
    def users(self) -> list[dict[str, Any]]:
        with self.ws.session() as s:
            return [user_dict(u) for u in s.scalars(select(User).order_by(User.name))]

    def has_users(self) -> bool:
        with self.ws.session() as s:
            return s.scalar(select(User.id).limit(1)) is not None

    def user(self, name: str) -> dict[str, Any]:
        with self.ws.session() as s:
            return user_dict(get_user(s, name))

    def add_user(self, name: str, password: str, role: str, *, created_by: str = "") -> dict[str, Any]:
        with self.ws.session() as s:
            return user_dict(add_user(s, name, password, role, created_by=created_by))

    def set_password(self, name: str, password: str) -> dict[str, Any]:
        """Set a password (an admin's reset); the user's login sessions end."""
        with self.ws.session() as s:
            return user_dict(set_password(s, name, password))

    def change_own_password(self, name: str, current: str, new: str) -> bool:
        """Change a password given the current one; False (nothing changed) when it is wrong."""
        with self.ws.session() as s:
            if check_password(s, name, current) is None:
                return False
            set_password(s, name, new)
            return True

    def update_user(
        self, name: str, *, role: str | None = None, disabled: bool | None = None
    ) -> dict[str, Any]:
        """Change the role and/or disable (which logs the user out everywhere) or enable."""
        with self.ws.session() as s:
            if role is not None:
                set_role(s, name, role)
            if disabled is not None:
                set_disabled(s, name, disabled)
            return user_dict(get_user(s, name))

    # tokens
    def create_token(
        self, user: str, label: str = "", *, expires_days: int | None = DEFAULT_TOKEN_DAYS
    ) -> tuple[dict[str, Any], str]:
        """(the token's row as a dict, its secret); the secret is shown once and never stored."""
        with self.ws.session() as s:
            row, secret = create_token(s, get_user(s, user), label, expires_days=expires_days)
            return token_dict(row), secret

    def tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        """Every token (with its user's name), or only ``user``'s, oldest first."""
        with self.ws.session() as s:
            q = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
            if user is not None:
                q = q.where(User.name == user)
            return [token_dict(t, name) for t, name in s.execute(q)]

    def revoke_token(self, token_id: int, *, owner: str | None = None) -> dict[str, Any]:
        """Revoke a token; with ``owner``, only one of that user's (else: no such token)."""
        with self.ws.session() as s:
            owner_id = get_user(s, owner).id if owner is not None else None
            return token_dict(revoke_token(s, token_id, owner_id=owner_id))

    # logging in
    def login(self, name: str, password: str, *, ip: str = "", user_agent: str = "") -> Login | None:
        """A new login session when the name and password match an enabled account, else None."""
        with self.ws.session() as s:
            user = check_password(s, name, password)
            if user is None:
                return None
            secret, _csrf = create_session(s, user, ip=ip, user_agent=user_agent)
            return Login(secret, user.name, user.role)

    def logout(self, secret: str) -> None:
        with self.ws.session() as s:
            end_session(s, secret)

    def authenticate(
        self, *, token: str | None = None, session_secret: str | None = None
    ) -> Principal | None:
        """Who a bearer token or a session cookie belongs to (None: nobody, or not any more)."""
        with self.ws.session() as s:
            if token is not None:
                return principal_from_token(s, token)
            if session_secret is not None:
                return principal_from_session(s, session_secret)
        return None
