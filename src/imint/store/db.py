"""The workspace database: SQLite through SQLAlchemy 2, schema by Alembic.

SQLite is the product here, not a detail: a user can open ``imint.db`` with any
SQLite tool, and every record the UI shows is a row in it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()


class Base(DeclarativeBase):
    """Declarative base shared by every table of every part."""


def utcnow() -> str:
    """Now as UTC ISO 8601 with seconds, the one time format of the database."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API object
    cur = dbapi_connection.cursor()
    # WAL lets the web UI read while a long ingest writes; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Database:
    """One SQLite file with its engine and session factory, migrated on open.

    ``table_modules`` and ``migration_dirs`` come from the parts (``imint.parts.Parts``):
    the core's own revisions are always included, each part's branch is added to them.
    """

    def __init__(
        self,
        path: Path,
        *,
        migrate: bool = True,
        table_modules: Sequence[str] = (),
        migration_dirs: Sequence[Path] = (),
    ) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.table_modules = tuple(table_modules)
        self.migration_dirs = tuple(Path(d) for d in migration_dirs)
        for module in self.table_modules:  # every table on Base.metadata before the first query
            importlib.import_module(module)
        self.engine: Engine = create_engine(self.url, future=True)
        event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

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
        cfg.set_main_option("sqlalchemy.url", self.url)
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
