"""The workspace database: SQLite (default) or PostgreSQL through SQLAlchemy 2, schema by Alembic.

SQLite is the product here, not a detail: a user can open ``imint.db`` with any
SQLite tool, and every record the UI shows is a row in it. A team server keeps the same
tables in PostgreSQL instead (``Settings.database_url``, e.g.
``postgresql+psycopg://imint@127.0.0.1:5432/imint``); the same migrations build both, and the
append-only rules of the custody and audit logs are triggers on both (``imint.store.append_only``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from imint.errors import BadInputError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()
# How long a write waits for another connection's (or process's) write transaction to end. SQLite's
# busy handler polls, unfairly: with 50 searches writing at once on a starved machine (load 27 on 2
# cores) one waiter still hit 30 s (docs/performance.md); a burst that long is load, not a deadlock.
BUSY_TIMEOUT_MS = 120_000


class Base(DeclarativeBase):
    """Declarative base shared by every table of every part."""


def utcnow() -> str:
    """Now as UTC ISO 8601 with seconds, the one time format of the database."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API object
    cur = dbapi_connection.cursor()
    # First: a connection opened while another process (the CLI beside the server) writes must wait
    # for the lock, in the journal_mode pragma too, instead of failing at once with "database is locked".
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # WAL lets the web UI read while a long ingest writes; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_dumps(value: object) -> str:
    """JSON columns' text: NaN and infinities (a damaged EXIF GPS field, say) stored as null.

    They are not JSON: PostgreSQL's json type refuses them, and SQLite kept text no reader could parse.
    """
    return json.dumps(_finite(value))


SUPPORTED_DIALECTS = ("sqlite", "postgresql")


def is_url(target: str | Path) -> bool:
    """Whether ``target`` is a SQLAlchemy URL (``dialect+driver://...``) rather than a file path."""
    return isinstance(target, str) and "://" in target


def engine_for_url(url: str) -> Engine:
    """An engine for a database server URL, refusing anything but the dialects the migrations know."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise BadInputError(f"not a database URL ({exc})", subject="database_url") from None
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise BadInputError(
            f"database {parsed.get_backend_name()!r} is not supported (use {' or '.join(SUPPORTED_DIALECTS)})",
            subject="database_url",
        )
    try:
        # pre_ping: a team server outlives database restarts; a dead pooled connection is replaced, not raised.
        return create_engine(parsed, future=True, pool_pre_ping=True, json_serializer=json_dumps)
    except NoSuchModuleError as exc:
        raise BadInputError(
            f"no driver for this URL ({exc}); install imint[postgres]", subject="database_url"
        ) from None


class Database:
    """One database with its engine and session factory, migrated on open.

    ``target`` is a file path (SQLite, the default) or a SQLAlchemy URL (``sqlite:///...`` or
    ``postgresql+psycopg://user@host:port/db``). ``path`` is the SQLite file, or None on a server.
    ``table_modules`` and ``migration_dirs`` come from the parts (``imint.parts.Parts``):
    the core's own revisions are always included, each part's branch is added to them.
    """

    def __init__(
        self,
        target: str | Path,
        *,
        migrate: bool = True,
        table_modules: Sequence[str] = (),
        migration_dirs: Sequence[Path] = (),
    ) -> None:
        self.table_modules = tuple(table_modules)
        self.migration_dirs = tuple(Path(d) for d in migration_dirs)
        for module in self.table_modules:  # every table on Base.metadata before the first query
            importlib.import_module(module)
        if is_url(target):
            self.engine: Engine = engine_for_url(str(target))
            database = self.engine.url.database
            self.path: Path | None = (
                Path(database) if self.engine.dialect.name == "sqlite" and database else None
            )
        else:
            self.path = Path(target)
            self.engine = create_engine(f"sqlite:///{self.path}", future=True, json_serializer=json_dumps)
        self.dialect: str = self.engine.dialect.name
        # The URL with its password, for Alembic only; ``str(self)`` and logs show it masked.
        self.url = self.engine.url.render_as_string(hide_password=False)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate and self.dialect == "sqlite":
            self.migrate()
        elif migrate:
            try:
                self.migrate()
            except SAOperationalError as exc:  # server down, wrong password, no such database
                self.engine.dispose()
                raise BadInputError(
                    f"cannot open the database {self.engine.url.render_as_string()} ({exc.orig})",
                    subject="database_url",
                ) from None

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string()!r})"

    def migrate(self) -> None:
        """Bring the schema to the newest revision of every branch (idempotent)."""
        from alembic import command

        with _migrate_lock:
            command.upgrade(self.alembic_config(), "heads")

    def alembic_config(self):  # noqa: ANN201 - an alembic.config.Config
        """Alembic's configuration for this database: the core's revisions plus every part's branch."""
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))  # configparser interpolates %
        locations = [MIGRATIONS_DIR / "versions", *self.migration_dirs]
        cfg.set_main_option("version_locations", " ".join(str(d) for d in locations))
        cfg.set_main_option("path_separator", "space")
        cfg.attributes["connection_engine"] = self.engine
        cfg.attributes["table_modules"] = self.table_modules
        return cfg

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any error.

        This is what keeps the database whole when a folder run hits a bad file.
        """
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
