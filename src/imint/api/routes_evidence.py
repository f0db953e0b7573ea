"""The evidence page: one stored file, what every part found in it, and the file itself.

The core knows the file (``ws.evidence``); each part adds its section through its
``evidence_view`` hook (the faces part: the faces found and their candidates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from imint.api.deps import (
    INLINE_MEDIA_TYPES,
    OPAQUE,
    StrictBool,
    audit_event,
    file_response,
    guard,
    principal,
    render,
)
from imint.errors import NotFoundError

if TYPE_CHECKING:
    from imint.records import Evidence

router = APIRouter()


def _evidence(ws: Any, sha256: str) -> Evidence:
    # The page of a file is named by its full hash (``ws.evidence`` alone would take a prefix).
    ev = ws.evidence(sha256)
    if ev.sha256 != sha256:
        raise NotFoundError("no evidence with this hash", subject=sha256)
    return ev


def evidence_page_data(ws: Any, sha256: str) -> dict[str, Any]:
    """The file's record and every part's section of it, merged (each part names its own keys)."""
    ev = _evidence(ws, sha256)
    data: dict[str, Any] = {
        "evidence": {
            "sha256": ev.sha256,
            "kind": ev.kind,
            "media_type": ev.media_type,
            "original_name": ev.original_name,
            "size_bytes": ev.size_bytes,
            "metadata": ev.metadata,
            "added_at": ev.added_at,
            "added_by": ev.added_by,
            "source": ev.source,
        }
    }
    for part in ws.parts:
        section = part.evidence_view(ws, ev.sha256)
        if section:
            data.update(section)
    return data


@router.get("/evidence/{sha256}", tags=["evidence"], **guard("viewer"))
def evidence_page(request: Request, sha256: str) -> Response:
    """An evidence file with what the parts found in it (faces and their candidates...)."""
    return render(request, "evidence.html", evidence_page_data(request.app.state.ws, sha256))


@router.get(
    "/evidence/{sha256}/file",
    tags=["evidence"],
    **guard("viewer", media_types=(*sorted(INLINE_MEDIA_TYPES), OPAQUE)),
)
def evidence_file(request: Request, sha256: str, download: StrictBool = False) -> Response:
    """The original file, byte for byte (``download=true`` to save it; that is logged as an export)."""
    ws = request.app.state.ws
    ev = _evidence(ws, sha256)
    name, media_type = ev.original_name, ev.media_type
    if download:
        audit_event(request, "export", sha256, name=name)
        ws.log_custody(sha256, "exported", by=principal(request).name, via="web")
    # Only display-only pictures and videos are shown inline; anything else (HTML, SVG, PDF...) is an
    # attachment of opaque bytes, so a hostile file cannot run in the app's origin.
    return file_response(ws.object_path(sha256), media_type, name, download=download)
