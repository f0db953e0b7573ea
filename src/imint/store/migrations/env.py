"""Alembic environment: used by Database.migrate() and by `alembic` for autogenerate."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import create_engine, text

from imint.store.db import Base

config = context.config
# The core's tables, then every part's (Database passes the parts' table modules), so that
# autogenerate sees the whole schema.
for module in ("imint.store.models", "imint.store.models_api", *config.attributes.get("table_modules", ())):
    importlib.import_module(module)
target_metadata = Base.metadata
# Any constant: the key of the PostgreSQL advisory lock that lets one process at a time migrate.
MIGRATION_LOCK_KEY = 0x1A1E7_0001


def run_migrations_online() -> None:
    engine = config.attributes.get("connection_engine") or create_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # A server and CLI users may open a fresh database at once; PostgreSQL runs the
                # revisions in one transaction, and this lock (released at commit) makes the
                # others wait and then find the schema current, instead of racing CREATE TABLE.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()


run_migrations_online()
