"""What routes share: the role guard with CSRF check, the error body, content negotiation, rendering,
audit, and how a stored file is served.

Every route declares the least role that may use it with ``**guard(role)``; the
role lands in the OpenAPI document as ``x-required-role`` so a test can walk
every route and check it answers 401 without credentials and 403 below its role.
``guard`` also documents the error answers (401, 403, 422 and the ones a route names) with
the one body every 4xx has, ``ErrorBody``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from imint.errors import NotFoundError, ValidationError
from imint.store import audit
from imint.store.accounts import Principal

SESSION_COOKIE = "imint_session"
LOGIN_CSRF_COOKIE = "imint_login_csrf"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class ErrorBody(BaseModel):
    """The JSON body of every 4xx answer (an HTML page gets the same text in error.html)."""

    model_config = ConfigDict(extra="forbid")

    # Every field is always sent (null or [] when empty), so every field is required in the schema.
    detail: str = Field(description="What went wrong, in words a user can act on.")
    subject: str | None = Field(description="The file, field or record at fault, when there is one.")
    reason: str | None = Field(description="The problem without the subject.")
    errors: list[str] = Field(description="For 422: one 'field: problem' line per invalid field; else [].")


ERROR_DESCRIPTIONS = {
    400: "The request cannot be carried out.",
    401: "Not logged in, or the token is unknown, expired or revoked.",
    403: "Your role may not do this, or the CSRF token is missing or wrong.",
    404: "No such record or file (in the path, or named by a field of the request).",
    409: "The request contradicts what is stored (a duplicate name, a finished job...).",
    413: "The request body is over the server's size limit.",
    422: "A field or an uploaded file is not acceptable; `subject` names it.",
    429: "Too many failed logins; wait and try again.",
}
# Answers besides a route's own status_code (e.g. a search answered at once or queued as a job).
SUCCESS_DESCRIPTIONS = {
    200: "Done: the JSON twin of the page, or the changed record.",
    201: "Created: the new record.",
    202: "Accepted: a background job was queued; `job` links to its page.",
}
ALWAYS_DOCUMENTED = (401, 403, 422)
# Set in a route's openapi_extra by ``guard(..., needs_one_of=...)``; the app turns it into the body
# schema's ``anyOf`` (a form cannot say "one of these fields" any other way) and drops the key.
# The ``pattern`` of a text field that must hold more than white space (the handler strips it):
# any character str.strip() keeps. Python counts \x1c-\x1f and \x85 as white space, JSON Schema's
# (ECMA-262) \s does not; Python does not count \ufeff, which \s does (so the pattern refuses a little
# more than the route: a text of only \ufeff, which is blank to a reader too).
WHITE_SPACE = r"\s\x1c-\x1f\x85"
NOT_BLANK = rf"[^{WHITE_SPACE}]"
# A calendar day YYYY-MM-DD, exactly the ones that exist (no 2024-02-30, no year 0): a field that
# says "a date" with a pattern a client can check before sending, and that FastAPI enforces.
_YEAR = r"(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})"
_LEAP_YEAR = r"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
DAY = (
    rf"(?:{_YEAR}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    rf"|(?:0[13578]|1[02])-31)|{_LEAP_YEAR}-02-29)"
)
ISO_DATE: dict[str, Any] = {"pattern": f"^{DAY}$"}
DATE_LIST: dict[str, Any] = {
    "pattern": f"^(?:{DAY}(?:[/,]{DAY})*)?$",
    "description": "days as YYYY-MM-DD: FROM/TO (both ends) or a comma-separated list",
}
# Text in a small language of its own that a pattern cannot say whole (a polygon must close and not
# cross itself; a range must not end before it starts): a named ``format``, described in words.
GEOJSON_POLYGON: dict[str, Any] = {
    # The pattern says the part a schema can: a JSON object (or nothing, where the field is optional).
    "pattern": r"^(?:\s*\{[\s\S]*\}\s*)?$",
    "json_schema_extra": {"format": "geojson-polygon"},
    "description": "a GeoJSON Polygon or MultiPolygon (or a Feature of one) in lon, lat degrees",
}
DATE_RANGE: dict[str, Any] = {
    "json_schema_extra": {"format": "date-range"},
    "description": "a day (YYYY-MM-DD), a month (YYYY-MM) or FROM/TO (or FROM..TO) that does not end before it starts",
}
FIGURE: dict[str, Any] = {
    "json_schema_extra": {"format": "figure"},
    "description": "a count or a range with an optional unit: '1500 troops', '1000-3000', 'up to 12k'",
}
PLACE_NAMES: dict[str, Any] = {
    "json_schema_extra": {"format": "place-names"},
    "description": "comma-separated cities of the offline gazetteer (15,000+ people), or 'Name @ lat,lon'",
}
NEEDS_ONE_OF = "x-needs-one-of"
# On a TYPE:ID field: the app writes the record types the workspace's parts register into its pattern.
RECORD_TYPES = "x-record-types"
UPLOAD_KINDS = "x-upload-kinds"
REQUIRES = "x-requires"  # {field: other}: when field is sent (not empty), so must other be  # the same for file fields: the app writes each part's media types


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses: each error with the ErrorBody schema, each
    extra success with its description."""
    return {
        code: (
            {"description": SUCCESS_DESCRIPTIONS[code]}
            if code < 400
            else {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]}
        )
        for code in sorted(set(statuses))
    }


def error_json(
    status: int,
    detail: str,
    *,
    subject: str | None = None,
    reason: str | None = None,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A 4xx answer with the one error body."""
    body = ErrorBody(detail=detail, subject=subject, reason=reason, errors=errors or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def principal(request: Request) -> Principal:
    """The authenticated caller (set by the middleware; routes only run for known callers)."""
    p = getattr(request.state, "principal", None)
    if p is None:  # the middleware answers 401 first; this is a second lock on the door
        raise HTTPException(401, "log in or send an API token")
    return p


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def audit_event(request: Request, action: str, target: Any = "", outcome: str = "ok", **details: Any) -> None:
    """Append one audit row for the current caller (or ``actor=``), with where the request came from."""
    p: Principal | None = getattr(request.state, "principal", None)
    # An explicit actor wins: a login attempt is on record under the name tried (the login limit
    # counts by it), even when the request also carries someone's token or cookie.
    named = details.pop("actor", None)
    caller = p if p is not None and named in (None, p.name) else None
    audit.log(
        request.app.state.ws,
        actor=named if named is not None else (p.name if p else "anonymous"),
        role=caller.role if caller else "",
        via=caller.via if caller else "",
        action=action,
        target=str(target),
        outcome=outcome,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        **details,
    )


async def _check_csrf(request: Request, p: Principal) -> None:
    """Cookie sessions must prove the request came from our own page (token in header or form).

    API tokens are not sent by browsers on their own, so token requests need no CSRF token.
    """
    if p.via != "session" or request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent, p.csrf_token):
        audit_event(request, "csrf-rejected", request.url.path, outcome="denied")
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


def require(role: str):  # noqa: ANN201 - a FastAPI dependency
    async def dependency(request: Request) -> Principal:
        p = principal(request)
        if not p.has_role(role):
            audit_event(
                request, "denied", f"{request.method} {request.url.path}", outcome="denied", needs=role
            )
            raise HTTPException(403, f"this needs the {role} role; you are {p.role}")
        await _check_csrf(request, p)
        return p

    return dependency


def guard(
    role: str,
    *statuses: int,
    media_types: tuple[str, ...] = (),
    needs_one_of: tuple[str | tuple[str, ...], ...] = (),
    uploads: dict[str, tuple[str, ...]] | None = None,
    exactly_one: bool = False,
    requires: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Route keyword arguments: the role check, the role written into the OpenAPI document, and the
    answers documented: 401, 403, 422 always (with ErrorBody), plus ``statuses``: errors such as 404
    for a record named in the body or 409 for a duplicate, and successes besides the route's own
    status_code (202 when the work may become a job).

    ``media_types``: what a route that sends bytes (a PNG, a stored file) answers with, instead of
    JSON. ``needs_one_of``: body fields (or groups of fields) of which the request must send one
    (``exactly_one``: and only one). ``requires``: a field that, when sent, needs another one. ``uploads``: each
    file field and the kinds of file it takes (``image``, ``video``, ``raster``), written into the
    document as the media types of the part.
    (The app adds 404 to every operation with a path parameter and 400/413 to every one with a body.)
    """
    extra: dict[str, Any] = {"x-required-role": role}
    if needs_one_of:
        groups = [[f] if isinstance(f, str) else list(f) for f in needs_one_of]
        extra[NEEDS_ONE_OF] = {"oneOf" if exactly_one else "anyOf": groups}
    if requires:
        extra[REQUIRES] = dict(requires)
    if uploads:
        extra[UPLOAD_KINDS] = {field: list(kinds) for field, kinds in uploads.items()}
    kwargs: dict[str, Any] = {
        "dependencies": [Depends(require(role))],
        "openapi_extra": extra,
        "responses": error_responses(*ALWAYS_DOCUMENTED, *statuses),
    }
    if media_types:
        binary = {"schema": {"type": "string", "format": "binary"}}
        kwargs["response_class"] = Response
        kwargs["responses"][200] = {"description": "The file.", "content": {t: binary for t in media_types}}
    return kwargs


def strict_bool(value: Any) -> Any:
    """A form or query boolean is the word ``true`` or ``false``: pydantic would also take 0/1/yes/
    off..., which the schema's ``boolean`` does not allow (a client reading the schema sends only
    these two)."""
    if isinstance(value, str):
        if value in ("true", "false"):
            return value == "true"
        raise ValueError("must be true or false")
    return value


# A boolean field of a form or query string, as the schema documents it.
StrictBool = Annotated[bool, BeforeValidator(strict_bool)]


def public(*errors: int) -> dict[str, Any]:
    """Route keyword arguments of the few routes open without an account (the login page and form)."""
    return {"openapi_extra": {"x-required-role": "public"}, "responses": error_responses(*errors)}


@contextmanager
def not_found_when_refused() -> Iterator[None]:
    """For a GET of something made from stored records (a chart, a map overlay): when the records
    cannot make it (too few dated scenes, no georeference) it does not exist, and the answer is 404
    with the library's words; 422 would say the request was malformed, and it was not."""
    try:
        yield
    except ValidationError as exc:
        raise NotFoundError(exc.reason, subject=exc.subject) from None


def wants_json(request: Request) -> bool:
    """JSON for `.json` paths, `Accept: application/json` and clients that do not ask for HTML."""
    if getattr(request.state, "want_json", False):
        return True
    if request.headers.get("hx-request"):
        return False
    accept = request.headers.get("accept", "")
    if "application/json" in accept:
        return True
    return "text/html" not in accept


def render(request: Request, template: str, data: dict[str, Any], status_code: int = 200) -> Response:
    """The page's HTML, or its JSON twin: the same ``data`` either way."""
    if wants_json(request):
        return JSONResponse(jsonable(data), status_code=status_code)
    templates = request.app.state.templates
    p: Principal | None = getattr(request.state, "principal", None)
    context = {
        "data": data,
        "me": p,
        "csrf_token": p.csrf_token if p else "",
        **data,
    }
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def done(request: Request, data: dict[str, Any], redirect_to: str, status_code: int = 200) -> Response:
    """After a change: JSON for scripts, a 303 redirect for browsers (post/redirect/get)."""
    if wants_json(request):
        return JSONResponse(jsonable(data), status_code=status_code)
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": redirect_to})
    return RedirectResponse(redirect_to, status_code=303)


def jsonable(obj: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(obj)


# -- serving stored files ------------------------------------------------------------------------
# Types a browser only ever displays (no script runs in them). Anything else a file was stored as
# (HTML, SVG, XML, PDF, JavaScript...) is served as opaque bytes to download, so a hostile file
# kept as evidence cannot run in the app's origin.
INLINE_MEDIA_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/tiff",
        "image/avif",
        "image/heic",
        "image/heif",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "video/x-matroska",
        "video/x-msvideo",
        "video/mpeg",
        "video/ogg",
        "video/3gpp",
    }
)
OPAQUE = "application/octet-stream"
# The page CSP of the app does not fit a file: a file response may load nothing and runs sandboxed.
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


def safe_media_type(media_type: str | None) -> str:
    """The Content-Type to serve a stored file with: its own when display-only, else octet-stream."""
    base = (media_type or "").split(";")[0].strip().lower()
    return base if base in INLINE_MEDIA_TYPES else OPAQUE


def file_response(path: Path, media_type: str | None, name: str, *, download: bool = False) -> FileResponse:
    """A stored file: display-only types inline (or as a download when asked), anything else always
    an attachment of opaque bytes; ``nosniff`` so the browser keeps to the type sent."""
    served = safe_media_type(media_type)
    attach = download or served == OPAQUE
    return FileResponse(
        path,
        media_type=served,
        filename=name or path.name,
        content_disposition_type="attachment" if attach else "inline",
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": FILE_CSP},
    )
