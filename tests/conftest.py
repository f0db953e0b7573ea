"""Fixtures made at test time from public-domain images that ship inside installed packages.

- scikit-image's ``astronaut`` (NASA portrait of Eileen Collins, public domain)
- matplotlib's ``grace_hopper.jpg`` (US Navy portrait, public domain)
"""

from __future__ import annotations

import itertools
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


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
# SQLite (<workspace>/imint.db) unless IMINT_DATABASE_URL names a PostgreSQL server
# (scripts/pg_test.sh starts one). Then every workspace folder a test opens gets its own fresh
# database, made with IMINT_TEST_ADMIN_URL and owned by the URL's role, so tests stay as isolated
# as with one imint.db per folder, and reopening a folder finds its records again.
TEST_DATABASE_URL = os.environ.get("IMINT_DATABASE_URL", "")
TEST_ADMIN_URL = os.environ.get("IMINT_TEST_ADMIN_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


class ServerDatabases:
    """One PostgreSQL database per workspace path, dropped when the test ends."""

    def __init__(self, app_url: str, admin_url: str) -> None:
        from sqlalchemy import create_engine, make_url

        self.app_url = make_url(app_url)
        self.admin = create_engine(make_url(admin_url or app_url), isolation_level="AUTOCOMMIT")
        self.by_path: dict[Path, str] = {}

    def url_for(self, sqlite_path: Path) -> str:
        from sqlalchemy import text

        key = Path(sqlite_path).resolve()
        if key not in self.by_path:
            name = f"imint_t{os.getpid()}_{next(_database_numbers)}"
            with self.admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}" OWNER "{self.app_url.username}"'))
            self.by_path[key] = self.app_url.set(database=name).render_as_string(hide_password=False)
        return self.by_path[key]

    def drop_all(self) -> None:
        from sqlalchemy import text

        with self.admin.connect() as c:
            for url in self.by_path.values():
                name = url.rsplit("/", 1)[1]
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


_database_numbers = itertools.count()


@pytest.fixture(autouse=True)
def database_server(monkeypatch) -> Iterator[ServerDatabases | None]:
    """On PostgreSQL: route every Workspace's imint.db to its own server database."""
    if not ON_POSTGRES:
        yield None
        return
    import imint.workspace
    from imint.store.db import Database, is_url

    servers = ServerDatabases(TEST_DATABASE_URL, TEST_ADMIN_URL)

    class PerWorkspaceDatabase(Database):
        def __init__(self, target, **kwargs) -> None:  # noqa: ANN001 - a path or a URL, as Database
            super().__init__(target if is_url(target) else servers.url_for(target), **kwargs)

    # The CLI in-process would otherwise send every workspace to the one database of the URL.
    monkeypatch.delenv("IMINT_DATABASE_URL")
    monkeypatch.setattr(imint.workspace, "Database", PerWorkspaceDatabase)
    try:
        yield servers
    finally:
        servers.drop_all()
