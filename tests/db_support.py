"""The database under test: SQLite (``<workspace>/imint.db``) or the PostgreSQL of scripts/pg_test.sh.

With IMINT_DATABASE_URL naming a PostgreSQL server (and IMINT_TEST_ADMIN_URL a superuser on it),
every workspace folder a test opens gets its own fresh database, made by :class:`ServerDatabases`
and owned by the URL's role, so tests stay as isolated as with one imint.db per folder and
reopening a folder finds its records again. Inside the test process ``tests/conftest.py`` routes
``Workspace(path)`` there; a child process (``python -m imint.cli``, a script) is told the URL of
its workspace in its environment by :func:`child_env`, as a user would tell it.

Tests that look under the library (row counts, the append-only triggers) go through
:func:`query` and :func:`execute`, on the workspace's own database as the application's user,
so the same test checks SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

TEST_DATABASE_URL = os.environ.get("IMINT_DATABASE_URL", "")
TEST_ADMIN_URL = os.environ.get("IMINT_TEST_ADMIN_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql") or TEST_ADMIN_URL.startswith("postgresql")

# What a database raises when a trigger refuses a statement (sqlite3.IntegrityError, psycopg's RaiseException).
RefusedByDatabase = DBAPIError


class ServerDatabases:
    """One PostgreSQL database per workspace folder, made on first use."""

    def __init__(self, app_url: str, admin_url: str) -> None:
        self.app_url = make_url(app_url)
        self.admin = create_engine(make_url(admin_url or app_url), isolation_level="AUTOCOMMIT")
        self.by_path: dict[Path, str] = {}
        self._engines: dict[str, Engine] = {}
        self._numbers = itertools.count()

    def _new_name(self) -> str:
        global databases_made
        databases_made += 1
        return f"imint_t{os.getpid()}_{next(self._numbers)}"

    def _url(self, name: str) -> str:
        return self.app_url.set(database=name).render_as_string(hide_password=False)

    def url_for(self, workspace: Path | str) -> str:
        """The URL of the database of the workspace folder ``workspace`` (created when new)."""
        key = Path(workspace).resolve()
        if key not in self.by_path:
            name = self._new_name()
            with self.admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}" OWNER "{self.app_url.username}"'))
            self.by_path[key] = self._url(name)
        return self.by_path[key]

    def copy(self, source: Path | str, target: Path | str) -> str:
        """Give folder ``target`` a copy of ``source``'s database (what copying an imint.db does)."""
        key = Path(target).resolve()
        assert key not in self.by_path, f"{target} has a database already"
        old = make_url(self.url_for(source)).database
        name = self._new_name()
        self.engine(self.url_for(source)).dispose()
        with self.admin.connect() as c:
            # A template must have no other session: end the pooled ones of this process (they reconnect).
            c.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": old}
            )
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{old}" OWNER "{self.app_url.username}"'))
        self.by_path[key] = self._url(name)
        return self.by_path[key]

    def engine(self, url: str) -> Engine:
        """One engine per database for the helpers below (not the application's)."""
        if url not in self._engines:
            self._engines[url] = create_engine(url, pool_pre_ping=True)
        return self._engines[url]

    def drop(self, paths: list[Path]) -> None:
        with self.admin.connect() as c:
            for path in paths:
                url = self.by_path.pop(path)
                if engine := self._engines.pop(url, None):
                    engine.dispose()
                c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))

    def drop_all(self) -> None:
        self.drop(list(self.by_path))
        self.admin.dispose()


# Set by tests/conftest.py for the session when ON_POSTGRES.
servers: ServerDatabases | None = None
databases_made = 0  # so far in this session (for the pass's cost summary)


def database_url(workspace: Path | str) -> str:
    """What IMINT_DATABASE_URL / --database-url must say for ``workspace``: "" on SQLite."""
    return servers.url_for(workspace) if servers is not None else ""


def child_env(workspace: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a child process that opens ``workspace``: this tree's imint, its database."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **extra}
    env.pop("IMINT_DATABASE_URL", None)
    if url := database_url(workspace):
        env["IMINT_DATABASE_URL"] = url
    return env


def copy_workspace(source: Path, target: Path) -> Path:
    """Copy a closed workspace folder, and on a server its database too."""
    shutil.copytree(source, target)
    if servers is not None:
        servers.copy(source, target)
    return target


def doctor(workspace: Path | str, **options: Any):  # noqa: ANN201 - an imint.store.doctor.DoctorReport
    """``imint doctor``'s report on ``workspace``, on whichever database holds it."""
    from imint.store.doctor import check_workspace

    return check_workspace(workspace, database_url=database_url(workspace), **options)


def _engine_of(where: Any) -> tuple[Engine, Any]:
    """An engine on the database of a Workspace, or of a workspace folder (and what to close after)."""
    from imint.workspace import Workspace

    if isinstance(where, Engine):
        return where, None
    if isinstance(where, Workspace):
        return where.db.engine, None
    if servers is not None and Path(where).resolve() in servers.by_path:
        return servers.engine(servers.url_for(where)), None
    ws = Workspace(where)  # migrated on open, as the tests expect of a folder

    return ws.db.engine, ws


def query(where: Any, sql: str, **params: Any) -> list[tuple]:
    """The rows of ``sql`` on the database of a workspace (a Workspace, its folder, or an engine on it)."""
    engine, opened = _engine_of(where)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), params)]
    finally:
        if opened is not None:
            opened.close()


def execute(where: Any, sql: str, **params: Any) -> None:
    """Run and commit ``sql`` on a workspace's database, on a connection of its own."""
    engine, opened = _engine_of(where)
    try:
        with engine.begin() as c:
            c.execute(text(sql), params)
    finally:
        if opened is not None:
            opened.close()
