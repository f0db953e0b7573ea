"""PostgreSQL as the workspace database (scripts/pg_test.sh): migrations, append-only logs, concurrent writers.

Skipped unless IMINT_TEST_ADMIN_URL and IMINT_DATABASE_URL name a PostgreSQL server: the admin
URL makes a fresh database per test, the application's role (IMINT_DATABASE_URL's user, not a
superuser) owns it and is the one whose UPDATE and DELETE the triggers must refuse.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

from imint.settings import Settings
from imint.store import append_only
from imint.store.db import Base, Database
from imint.workspace import Workspace
from tests.db_support import RefusedByDatabase

APP_URL = os.environ.get("IMINT_DATABASE_URL", "")
ADMIN_URL = os.environ.get("IMINT_TEST_ADMIN_URL", "")

pytestmark = pytest.mark.skipif(
    not (APP_URL.startswith("postgresql") and ADMIN_URL.startswith("postgresql")),
    reason="needs PostgreSQL: run scripts/pg_test.sh",
)


@pytest.fixture
def fresh_url(request) -> str:
    """The URL of a new, empty database owned by the application's role, dropped afterwards."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    app = make_url(APP_URL)
    name = f"imint_pg_{os.getpid()}_{request.node.name[:30].lower()}".replace("[", "_").replace("]", "_")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}" OWNER "{app.username}"'))
    yield app.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _workspace(path: Path, url: str) -> Workspace:
    return Workspace(settings=Settings(workspace=path, database_url=url, user="tester"))


def test_the_migrations_build_every_table_on_postgresql_and_downgrade_cleanly(tmp_path, fresh_url):
    from alembic import command
    from alembic.script import ScriptDirectory

    ws = _workspace(tmp_path / "ws", fresh_url)
    assert ws.db.dialect == "postgresql" and ws.db.path is None
    assert not (ws.path / "imint.db").exists()  # records on the server, originals in the folder
    names = set(inspect(ws.db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= names
    cfg = ws.db.alembic_config()
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with ws.db.engine.connect() as c:
        assert {v for (v,) in c.execute(text("SELECT version_num FROM alembic_version"))} == heads
        # Column types the SQLite schema never had to get right.
        cols = {col["name"]: col for col in inspect(c).get_columns("evidence")}
        assert str(cols["size_bytes"]["type"]) == "BIGINT"
    command.downgrade(cfg, "base")
    left = set(inspect(ws.db.engine).get_table_names()) - {"alembic_version"}
    assert left == set()
    with ws.db.engine.connect() as c:
        assert (
            c.scalar(text("SELECT count(*) FROM pg_proc WHERE proname = :f"), {"f": append_only.FUNCTION})
            == 0
        )
    ws.db.migrate()  # and up again: every revision runs twice on one database
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(ws.db.engine).get_table_names())
    ws.close()


def test_originals_stay_in_the_workspace_folder_and_a_reopen_finds_the_records(tmp_path, fresh_url):
    f = tmp_path / "note.txt"
    f.write_text("hello")
    with _workspace(tmp_path / "ws", fresh_url) as ws:
        ev = ws.ingest(f, source="test")
        assert Path(ev.stored_path).is_file() and Path(ev.stored_path).is_relative_to(ws.objects_dir)
    with _workspace(tmp_path / "ws", fresh_url) as again:
        assert [e.sha256 for e in again.list_evidence()] == [ev.sha256]


@pytest.mark.parametrize("table", ["custody_log", "audit_log"])
def test_the_application_user_cannot_change_or_remove_log_rows(tmp_path, fresh_url, table):
    from imint.api.audit import record

    f = tmp_path / "a.bin"
    f.write_bytes(b"\x00\x01")
    with _workspace(tmp_path / "ws", fresh_url) as ws:
        ws.ingest(f)
        with ws.session() as s:
            record(s, actor="tester", action="search", target="x", via="cli")
        with ws.db.engine.connect() as c:
            who = c.execute(
                text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            ).one()
            before = c.execute(text(f"SELECT * FROM {table} ORDER BY id")).all()
        assert who == (make_url(APP_URL).username, False)  # the application's role, no superuser
        assert before
        for statement in (
            f"UPDATE {table} SET actor = 'mallory'",
            f"DELETE FROM {table}",
            f"DELETE FROM {table} WHERE id = (SELECT max(id) FROM {table})",
            f"TRUNCATE {table}",
        ):
            with pytest.raises(RefusedByDatabase, match=f"{table} is append-only"), ws.db.engine.begin() as c:
                c.execute(text(statement))
        with ws.db.engine.connect() as c:
            assert c.execute(text(f"SELECT * FROM {table} ORDER BY id")).all() == before
        # Appending is still allowed (that is what the log is for).
        with ws.session() as s:
            record(s, actor="tester", action="search", target="y", via="cli")


def test_a_bad_database_url_is_refused_by_name(tmp_path):
    from imint.errors import BadInputError

    with pytest.raises(BadInputError, match="database_url.*not supported"):
        Database("mysql://nobody@127.0.0.1/imint")
    closed = make_url(APP_URL).set(port=1, database="imint")
    with pytest.raises(BadInputError, match="database_url.*cannot open the database"):
        Database(closed.render_as_string(hide_password=False))


def _writer(workspace: str, url: str, files: list[str], shared: list[str], barrier) -> int:  # noqa: ANN001
    """One analyst's process: opens the database, then (all at once) ingests, audits."""
    from imint.api.audit import record

    settings = Settings(workspace=Path(workspace), database_url=url, user=f"p{os.getpid()}")
    barrier.wait()  # every process opens the fresh database at once: the migrations must not race
    with Workspace(settings=settings) as ws:
        barrier.wait()  # and every one stores the same bytes at the same moment
        for own, same in zip(files, shared, strict=True):
            ws.ingest(same)
            ws.ingest(own)
            with ws.session() as s:
                record(s, actor=ws.user, action="ingest", target=own, via="cli")
    return len(files)


def test_concurrent_writers_lose_nothing_and_store_shared_bytes_once(tmp_path, fresh_url):
    n_procs, per_proc = 4, 8
    shared = []
    for i in range(per_proc):
        f = tmp_path / f"shared_{i}.bin"
        f.write_bytes(f"the same bytes from every analyst, {i}".encode())
        shared.append(str(f))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(n_procs) as pool:
        barrier = manager.Barrier(n_procs)
        jobs = []
        for p in range(n_procs):
            names = []
            for i in range(per_proc):
                f = tmp_path / f"p{p}_{i}.bin"
                f.write_bytes(f"file {p}/{i}".encode())
                names.append(str(f))
            jobs.append((str(tmp_path / "ws"), fresh_url, names, shared, barrier))
        done = pool.starmap(_writer, jobs)
    assert done == [per_proc] * n_procs
    distinct = n_procs * per_proc + per_proc
    with _workspace(tmp_path / "ws", fresh_url) as ws, ws.db.engine.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM evidence")) == distinct
        actions = dict(c.execute(text("SELECT action, count(*) FROM custody_log GROUP BY action")).all())
        assert actions == {"added": distinct, "seen-again": per_proc * (n_procs - 1)}
        assert c.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'ingest'")) == n_procs * per_proc
        assert len([f for f in ws.objects_dir.rglob("*") if f.is_file()]) == distinct
