"""Raw SQL on a test workspace's database, whichever it is (imint.db or the PostgreSQL of pg_test.sh).

Tests that look under the library (row counts, the append-only triggers) go through the
workspace's own engine, so the same test checks SQLite and PostgreSQL, as the application's user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from imint.workspace import Workspace

ON_POSTGRES = os.environ.get("IMINT_DATABASE_URL", "").startswith("postgresql") or os.environ.get(
    "IMINT_TEST_ADMIN_URL", ""
).startswith("postgresql")

sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="reads the imint.db file itself (SQLite only)")

# What a database raises when a trigger refuses a statement (sqlite3.IntegrityError, psycopg's RaiseException).
RefusedByDatabase = DBAPIError


def query(where: Workspace | Path, sql: str, **params: Any) -> list[tuple]:
    """The rows of ``sql`` on the database of a workspace (or of the workspace folder ``where``)."""
    if isinstance(where, Workspace):
        with where.db.engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), params)]
    with Workspace(where) as ws:
        return query(ws, sql, **params)


def execute(where: Workspace | Path, sql: str, **params: Any) -> None:
    """Run and commit ``sql`` on a workspace's database, on a connection of its own."""
    if isinstance(where, Workspace):
        with where.db.engine.begin() as c:
            c.execute(text(sql), params)
        return
    with Workspace(where) as ws:
        execute(ws, sql, **params)
