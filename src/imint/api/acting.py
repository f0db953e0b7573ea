"""The workspace as seen by one user: custody entries and decisions carry their name.

The app holds one Workspace; requests of different users run at once on the
server's threads, so the user cannot be a field set per request on that shared
object. Each user gets a shallow copy (same database, same object store) with
its own ``user`` and its own FaceService. All of them share one face engine,
behind a lock: OpenCV's detector keeps per-call state (its input size) and is
not safe to call from two threads at once.
"""

from __future__ import annotations

import threading
from typing import Any

from imint.workspace import Workspace

_lock = threading.Lock()


class LockedEngine:
    """A face engine whose image work runs one call at a time."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._lock = threading.Lock()

    def analyze(self, image: Any) -> Any:
        with self._lock:
            return self._engine.analyze(image)

    def detect(self, image: Any) -> Any:
        with self._lock:
            return self._engine.detect(image)

    def embed(self, image: Any, faces: Any) -> Any:
        with self._lock:
            return self._engine.embed(image, faces)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def acting_workspace(ws: Workspace, user: str) -> Workspace:
    """``ws`` acting as ``user`` (``Workspace.as_user``), its face work on the one shared, locked engine."""
    acting = ws.as_user(user)
    with _lock:
        faces = acting.faces
        if not isinstance(faces._engine, LockedEngine):  # noqa: SLF001 - one engine for every user (see above)
            shared = _shared_engines.get(id(ws))
            if shared is None:
                shared = _shared_engines[id(ws)] = LockedEngine(ws.faces.engine)
            faces._engine = shared  # noqa: SLF001
    return acting


_shared_engines: dict[int, LockedEngine] = {}
