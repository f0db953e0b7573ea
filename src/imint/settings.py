"""Settings: everything configurable about a workspace, built once and passed down.

The CLI and the web app build one ``Settings`` from their flags and the environment
(:meth:`Settings.from_env`); everything below takes it as an argument. No module under
``imint`` reads ``os.environ`` on its own, so a library user sees all configuration in
one place and two workspaces in one process never share hidden state.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_WORKSPACE = "imint-data"

# Environment variables read by ``from_env`` (and nowhere else).
ENV_WORKSPACE = "IMINT_WORKSPACE"
ENV_USER = "IMINT_USER"
ENV_MILVUS_URI = "IMINT_MILVUS_URI"
ENV_DATABASE_URL = "IMINT_DATABASE_URL"
ENV_WORKERS = "IMINT_WORKERS"
ENV_FACE_MODEL = "IMINT_FACE_MODEL"
ENV_RAY_ADDRESS = "IMINT_RAY_ADDRESS"
ENV_CHROMIUM = ("IMINT_CHROMIUM", "CHROME_BIN")


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


@dataclass(frozen=True)
class Settings:
    """How to open a workspace.

    ``index_uri`` empty means the embedded FAISS index in ``<workspace>/index``; a Milvus URL
    (``http://host:19530``) or a milvus-lite file path moves the vector search there.
    ``database_url`` empty means ``<workspace>/imint.db`` (SQLite).
    ``workers`` 0 means one per core.
    ``face_model`` empty means the faces part's default model id (``imint.faces.engine.DEFAULT_MODEL``).
    """

    workspace: Path = Path(DEFAULT_WORKSPACE)
    user: str = ""
    index_uri: str = ""
    database_url: str = ""
    workers: int = 0
    face_model: str = ""
    ray_address: str = ""
    chromium: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "workspace", Path(self.workspace).expanduser())
        if not self.user:
            object.__setattr__(self, "user", _login_name())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: object) -> Settings:
        """Settings from flags, falling back to the environment; a flag given as None is not set."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "workspace": env.get(ENV_WORKSPACE) or DEFAULT_WORKSPACE,
            "user": env.get(ENV_USER, ""),
            "index_uri": env.get(ENV_MILVUS_URI, ""),
            "database_url": env.get(ENV_DATABASE_URL, ""),
            "workers": int(env.get(ENV_WORKERS) or 0),
            "face_model": env.get(ENV_FACE_MODEL, ""),
            "ray_address": env.get(ENV_RAY_ADDRESS, ""),
            "chromium": next((env[k] for k in ENV_CHROMIUM if env.get(k)), ""),
        }
        values.update({k: v for k, v in flags.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def with_user(self, user: str) -> Settings:
        return replace(self, user=user)
