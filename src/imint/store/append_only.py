"""Append-only tables: the database itself refuses to change or remove their rows.

The custody log and the audit log are evidence of what happened to evidence; no code path,
and no one with a SQL prompt as the application's user, may edit them. SQLite gets two
``RAISE(ABORT)`` triggers per table; PostgreSQL gets one trigger function raising an exception,
fired before every UPDATE or DELETE row and before TRUNCATE.

The Alembic revisions that create these tables call :func:`create` and :func:`drop`; the SQL is
frozen here because old revisions run it on every new database: change it only together with a
new revision that replaces the triggers it made.
"""

from __future__ import annotations

from typing import Any

FUNCTION = "imint_append_only"


def create(op: Any, table: str) -> None:
    """Make ``table`` append-only on the database Alembic's ``op`` is migrating."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; "
            f"END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
    else:
        raise NotImplementedError(f"append-only triggers for {dialect}")


def drop(op: Any, table: str) -> None:
    """Undo :func:`create` for ``table`` (the shared PostgreSQL function stays for the other tables)."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    elif dialect == "postgresql":
        for name in ("no_change", "no_truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}")


def drop_function(op: Any) -> None:
    """Drop the PostgreSQL trigger function once no table uses it (the core's last downgrade)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
