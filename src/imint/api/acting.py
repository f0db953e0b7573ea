"""The workspace as seen by one user (``Workspace.as_user``).

Kept for the routers that still import it; new code calls ``ws.as_user(name)`` itself. The face
engine's lock now lives with the engine (``imint.faces.engine.FaceEngine``), not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imint.workspace import Workspace


def acting_workspace(ws: Workspace, user: str) -> Workspace:
    """``ws`` acting as ``user``: custody entries and decisions carry that name."""
    return ws.as_user(user)
