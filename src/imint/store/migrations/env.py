"""Alembic environment: used by Database.migrate() and by `alembic` for autogenerate."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import create_engine

from imint.store.db import Base

config = context.config
# The core's tables, then every part's (Database passes the parts' table modules), so that
# autogenerate sees the whole schema.
for module in ("imint.store.models", "imint.store.models_api", *config.attributes.get("table_modules", ())):
    importlib.import_module(module)
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("connection_engine") or create_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
