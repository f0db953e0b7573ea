"""The workspace as seen by one user: custody entries and decisions carry their name.

The app holds one Workspace; requests of different users run at once on the
server's threads, so the user cannot be a field set per request on that shared
object. Each user gets a shallow copy (same database, same object store) with
its own ``user`` and its own FaceService. All of them share one face engine,
behind a lock: OpenCV's detector keeps per-call state (its input size) and is
not safe to call from two threads at once.
"""

from __future__ import annotations

import copy
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
    """``ws`` acting as ``user`` (cached per user)."""
    with _lock:
        cache: dict[str, Workspace] = ws.__dict__.setdefault("_acting", {})
        acting = cache.get(user)
        if acting is None:
            shared = ws.__dict__.get("_locked_engine")
            if shared is None:
                shared = ws.__dict__["_locked_engine"] = LockedEngine(ws.faces.engine)
            acting = copy.copy(ws)
            acting.__dict__.pop("_acting", None)
            acting.user = user
            acting._faces = None
            acting.faces._engine = shared  # noqa: SLF001 - one engine for every user (see above)
            cache[user] = acting
        return acting
