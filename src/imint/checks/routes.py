"""Checks over HTTP: a person's shadow marking on a photo and the sun times it allows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from imint.api.deps import audit_event, done, guard, principal
from imint.checks.shadow import mark_shadow, parse_line, shadow_markings, sun_inputs
from imint.errors import NotFoundError, ValidationError

router = APIRouter()

# Four pixel coordinates "X1,Y1,X2,Y2" (what parse_line reads), so the schema refuses what the route would.
LINE = r"^\s*-?\d+(\.\d+)?(\s*,\s*-?\d+(\.\d+)?){3}\s*$"


def _acting(request: Request) -> Any:
    return request.app.state.ws.as_user(principal(request).name)


def _full_hash(ws: Any, sha256: str) -> str:
    ev = ws.evidence(sha256)
    if ev.sha256 != sha256:  # a page is named by the full hash, not a prefix
        raise NotFoundError("no evidence with this hash", subject=sha256)
    return ev.sha256


def _claimed(text: str) -> Any:
    import datetime as dt

    if not text.strip():
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"not an ISO 8601 time: {text!r}", subject="claimed") from None
    if when.tzinfo is None:
        raise ValidationError("the time needs a zone (e.g. 2024-07-10T11:30:00Z)", subject="claimed")
    return when


@router.post("/evidence/{sha256}/shadow", tags=["checks"], status_code=201, **guard("analyst"))
def mark_shadow_route(
    request: Request,
    sha256: str,
    object_line: Annotated[
        str,
        Form(max_length=200, pattern=LINE, description="X1,Y1,X2,Y2 pixels: the object's base, then its top"),
    ],
    shadow_line: Annotated[
        str,
        Form(max_length=200, pattern=LINE, description="X1,Y1,X2,Y2 pixels: the shadow's base, then its tip"),
    ],
    claimed: Annotated[str, Form(max_length=64, description="ISO 8601 with zone; empty: EXIF UTC time")] = "",
    lat: Annotated[float | None, Form(ge=-90, le=90, description="empty: the EXIF GPS point")] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    tolerance: Annotated[float, Form(gt=0, lt=1, description="allowed error of the ratio")] = 0.15,
    note: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """Store a person's marking of an object and its shadow; answer with the sun times it allows
    and whether the claimed (or EXIF) time falls in them (the computation of ``imint sun``)."""
    ws = _acting(request)
    sha = _full_hash(ws, sha256)
    marking = mark_shadow(
        ws,
        sha,
        object_line=parse_line(object_line, "object_line"),
        shadow_line=parse_line(shadow_line, "shadow_line"),
        lat=lat,
        lon=lon,
        claimed=_claimed(claimed),
        tolerance=tolerance,
        note=note,
    )
    audit_event(
        request, "shadow-mark", sha, marking=marking.id, consistent=marking.result["claimed_consistent"]
    )
    return done(request, marking.to_dict(), f"/evidence/{sha}#sun", status_code=201)


@router.get("/evidence/{sha256}/shadow", tags=["checks"], **guard("viewer"))
def shadow_markings_route(request: Request, sha256: str) -> Response:
    """The shadow markings people stored on a photo, and the place and time EXIF gives for it."""
    ws = request.app.state.ws
    sha = _full_hash(ws, sha256)
    return JSONResponse(
        {"sun": sun_inputs(ws, sha), "markings": [m.to_dict() for m in shadow_markings(ws, sha)]}
    )
