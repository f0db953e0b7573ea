"""Shared fixtures of the API and web tests: a workspace with one user per role, and a client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from imint.api import security
from imint.api.app import create_app
from imint.workspace import Workspace

PASSWORD = "correct horse battery"
ROLES = ("viewer", "analyst", "admin")


@dataclass
class Site:
    """A running app (in-process), its workspace path and an API token per role."""

    client: TestClient
    workspace: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def app(self):  # noqa: ANN201
        return self.client.app

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", "Accept": "application/json"}


def make_users(path: Path) -> dict[str, str]:
    tokens = {}
    with Workspace(path) as ws, ws.session() as s:
        for role in ROLES:
            user = security.add_user(s, role, PASSWORD, role)
            _row, tokens[role] = security.create_token(s, user, "tests")
    return tokens


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ws_path = tmp_path / "ws"
    tokens = make_users(ws_path)
    app = create_app(ws_path, max_upload_bytes=8 * 1024 * 1024)
    with TestClient(app) as client:
        yield Site(client, ws_path, tokens)


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in through the form like a browser; returns the page's CSRF token."""
    page = client.get("/login", headers={"Accept": "text/html"})
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": name, "password": password, "login_csrf": login_csrf, "next": "/"},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = client.get("/", headers={"Accept": "text/html"})
    return re.search(r'"X-CSRF-Token": "([^"]+)"', home.text).group(1)


def jpeg_bytes(image, quality: int = 92) -> bytes:  # noqa: ANN001 - an RGB numpy array
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def astronaut_jpeg(flip: bool = False) -> bytes:
    """scikit-image's public-domain astronaut photo (Eileen Collins), optionally mirrored."""
    from skimage import data

    image = data.astronaut()
    return jpeg_bytes(image[:, ::-1].copy() if flip else image)


def hopper_jpeg() -> bytes:
    """matplotlib's public-domain portrait of Grace Hopper."""
    import matplotlib.cbook as cbook

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        return fh.read()


def astronaut_clip(path: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    """A short H.264 clip of the (still) astronaut photo, written with PyAV."""
    import av
    from skimage import data

    frame = data.astronaut()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
        for _ in range(int(seconds * fps)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
