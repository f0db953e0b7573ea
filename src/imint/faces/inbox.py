"""The workspace inbox: the only server-side folders the web app may search (no path escapes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from imint.errors import BadInputError, NotFoundError
from imint.media.sniff import sort_media

if TYPE_CHECKING:
    from imint.workspace import Workspace


def inbox_dir(ws: Workspace) -> Path:
    """``<workspace>/inbox`` (made if missing)."""
    d = ws.path / "inbox"
    d.mkdir(exist_ok=True)
    return d


def resolve_in_inbox(ws: Workspace, folder: str) -> Path:
    """The folder ``folder`` names inside the inbox; refused when it lies outside or is missing."""
    root = inbox_dir(ws).resolve()
    if "\x00" in folder:
        raise BadInputError("a folder name cannot hold a NUL byte", subject="folder")
    target = (root / folder).resolve()
    if target != root and root not in target.parents:
        raise BadInputError("the folder must be inside the workspace inbox", subject=folder)
    if not target.is_dir():
        raise NotFoundError("no such folder in the workspace inbox", subject=folder)
    return target


def inbox_media(ws: Workspace, folder: str) -> list[Path]:
    """Photos and videos under an inbox folder, by their bytes, not following symbolic links, in
    path order (a link could lead out of the inbox; a suffix could lie)."""
    photos, videos = sort_media([resolve_in_inbox(ws, folder)], follow_links=False, by_bytes=True)
    return sorted(photos + videos)
