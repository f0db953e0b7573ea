"""Fixtures made at test time from public-domain images that ship inside installed packages.

- scikit-image's ``astronaut`` (NASA portrait of Eileen Collins, public domain)
- matplotlib's ``grace_hopper.jpg`` (US Navy portrait, public domain)
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import db_support


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook as cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims to be width x height pixels: a decompression bomb's header."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("photos")
    out = {}
    astro = astronaut()
    Image.fromarray(astro).save(d / "astronaut.png")
    out["astronaut"] = d / "astronaut.png"
    # Another view of the same person: cropped, shrunk and re-encoded as JPEG.
    Image.fromarray(astro[10:400, 60:460]).resize((300, 293)).save(d / "astronaut_crop.jpg", quality=85)
    out["astronaut_crop"] = d / "astronaut_crop.jpg"
    Image.fromarray(grace_hopper()).save(d / "grace_hopper.jpg", quality=92)
    out["grace_hopper"] = d / "grace_hopper.jpg"
    return out


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, photos) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    text = d / "notes.jpg"
    text.write_text("this is a text file with an image's name\n")
    empty = d / "empty.jpg"
    empty.write_bytes(b"")
    truncated = d / "truncated.jpg"
    truncated.write_bytes(photos["grace_hopper"].read_bytes()[:3000])
    bomb = png_header_only(d / "bomb.png", 50_000, 50_000)
    return {"text": text, "empty": empty, "truncated": truncated, "bomb": bomb}


# -- the database under test ---------------------------------------------------------------------
# SQLite unless IMINT_DATABASE_URL names a PostgreSQL server (scripts/pg_test.sh starts one): then
# each workspace folder gets its own database (tests/db_support.py), for the whole session so
# that module-scoped workspaces are on the server too; a test's own databases are dropped after it.
def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001 - pytest's objects
    """On PostgreSQL, skip the tests marked ``sqlite_only`` with the reason each one gives."""
    if not db_support.ON_POSTGRES:
        return
    for item in items:
        if mark := item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="SQLite only: " + mark.kwargs.get("reason", "")))


# What the PostgreSQL pass spends on test files that never open a workspace (they run as on SQLite):
# test file -> [tests, seconds, databases made], printed at the end of the pass.
_pass_costs: dict[str, list[float]] = {}


def pytest_runtest_logreport(report) -> None:  # noqa: ANN001
    if db_support.ON_POSTGRES:
        cost = _pass_costs.setdefault(report.nodeid.split("::")[0], [0, 0.0, 0])
        cost[0] += report.when == "call"
        cost[1] += report.duration


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item):  # noqa: ANN001, ANN201
    made = db_support.databases_made
    yield
    if db_support.ON_POSTGRES:  # module fixtures' databases count for the test that set them up
        _pass_costs.setdefault(item.nodeid.split("::")[0], [0, 0.0, 0])[2] += db_support.databases_made - made


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if not _pass_costs:
        return
    idle = {f: c for f, c in _pass_costs.items() if c[2] == 0}
    terminalreporter.write_line(
        f"PostgreSQL pass: {len(idle)} of {len(_pass_costs)} test files opened no workspace "
        f"({sum(c[0] for c in idle.values()):.0f} tests, {sum(c[1] for c in idle.values()):.0f} s of "
        f"{sum(c[1] for c in _pass_costs.values()):.0f} s); databases made: "
        f"{sum(c[2] for c in _pass_costs.values()):.0f}"
    )


@pytest.fixture(scope="session", autouse=True)
def database_server() -> Iterator[db_support.ServerDatabases | None]:
    """On PostgreSQL: route every workspace's records to a server database of its own."""
    if not db_support.ON_POSTGRES:
        yield None
        return
    import imint.workspace
    from imint.settings import Settings
    from imint.store.db import Database, is_url

    servers = db_support.ServerDatabases(db_support.TEST_DATABASE_URL, db_support.TEST_ADMIN_URL)

    class PerWorkspaceDatabase(Database):
        def __init__(self, target, **kwargs) -> None:  # noqa: ANN001 - a path or a URL, as Database
            # Workspace passes <folder>/imint.db when its settings name no database.
            super().__init__(target if is_url(target) else servers.url_for(Path(target).parent), **kwargs)

    plain_from_env = Settings.from_env.__func__

    def from_env(cls, env=None, **flags):  # noqa: ANN001, ANN202 - as Settings.from_env
        """As if IMINT_DATABASE_URL named this workspace's database, the way a user runs a command."""
        settings = plain_from_env(cls, env, **flags)
        if env is None and not settings.database_url:
            settings = replace(settings, database_url=servers.url_for(settings.workspace))
        return settings

    with pytest.MonkeyPatch.context() as patch:
        # One shared database for every workspace would mix them: each gets its own instead.
        patch.delenv("IMINT_DATABASE_URL")
        patch.setattr(imint.workspace, "Database", PerWorkspaceDatabase)
        patch.setattr(Settings, "from_env", classmethod(from_env))
        db_support.servers = servers
        try:
            yield servers
        finally:
            db_support.servers = None
            servers.drop_all()


@pytest.fixture(autouse=True)
def _drop_test_databases(database_server) -> Iterator[None]:  # noqa: ANN001
    """Drop the databases a test made (module- and session-scoped fixtures' ones stay till the end)."""
    before = set(database_server.by_path) if database_server is not None else set()
    yield
    if database_server is not None:
        database_server.drop([p for p in database_server.by_path if p not in before])
