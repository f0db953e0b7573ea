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
    try:
        target = (root / folder).resolve()
        is_dir = target.is_dir()
    except OSError as exc:  # a name over the file system's limit (ENAMETOOLONG), a loop of links...
        # No folder can have such a name, so there is none: the same answer as any missing folder.
        raise NotFoundError(
            f"no such folder in the workspace inbox ({exc.strerror})", subject="folder"
        ) from None
    if target != root and root not in target.parents:
        raise BadInputError("the folder must be inside the workspace inbox", subject=folder)
    if not is_dir:
        raise NotFoundError("no such folder in the workspace inbox", subject=folder)
    return target


def inbox_media(ws: Workspace, folder: str) -> list[Path]:
    """Photos and videos under an inbox folder, by their bytes, not following symbolic links, in
    path order (a link could lead out of the inbox; a suffix could lie)."""
    photos, videos = sort_media([resolve_in_inbox(ws, folder)], follow_links=False, by_bytes=True)
    return sorted(photos + videos)
