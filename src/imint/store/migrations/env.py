"""Alembic environment: used by Database.migrate() and by `alembic` for autogenerate."""

from __future__ import annotations

import importlib
import pkgutil

from alembic import context
from sqlalchemy import create_engine

import imint.store as store_pkg
from imint.store.db import Base

# Every module named imint.store.models* holds tables; import them all so that
# autogenerate sees the whole schema.
for mod in pkgutil.iter_modules(store_pkg.__path__):
    if mod.name.startswith("models"):
        importlib.import_module(f"imint.store.{mod.name}")

target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    engine = config.attributes.get("connection_engine") or create_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
