"""Accounts as the web app knew them; they live in ``imint.store.accounts`` (kept for existing imports)."""

from __future__ import annotations

from imint.store.accounts import (
    ROLE_RANK,
    SESSION_HOURS,
    TOKEN_PREFIX,
    Accounts,
    Principal,
    add_user,
    check_password,
    create_session,
    create_token,
    end_session,
    get_user,
    principal_from_session,
    principal_from_token,
    revoke_token,
    set_disabled,
    set_password,
    set_role,
    sha256_hex,
)

__all__ = [
    "ROLE_RANK",
    "SESSION_HOURS",
    "TOKEN_PREFIX",
    "Accounts",
    "Principal",
    "add_user",
    "check_password",
    "create_session",
    "create_token",
    "end_session",
    "get_user",
    "principal_from_session",
    "principal_from_token",
    "revoke_token",
    "set_disabled",
    "set_password",
    "set_role",
    "sha256_hex",
]
