"""What routes share: the role guard with CSRF check, content negotiation, rendering, audit.

Every route declares the least role that may use it with ``**guard(role)``; the
role lands in the OpenAPI document as ``x-required-role`` so a test can walk
every route and check it answers 401 without credentials and 403 below its role.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from imint.api import audit
from imint.api.security import Principal

SESSION_COOKIE = "imint_session"
LOGIN_CSRF_COOKIE = "imint_login_csrf"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def principal(request: Request) -> Principal:
    """The authenticated caller (set by the middleware; routes only run for known callers)."""
    p = getattr(request.state, "principal", None)
    if p is None:  # the middleware answers 401 first; this is a second lock on the door
        raise HTTPException(401, "log in or send an API token")
    return p


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def audit_event(request: Request, action: str, target: Any = "", outcome: str = "ok", **details: Any) -> None:
    """Append one audit row for the current caller, with where the request came from."""
    p: Principal | None = getattr(request.state, "principal", None)
    with request.app.state.ws.session() as s:
        audit.record(
            s,
            actor=p.name if p else details.pop("actor", "anonymous"),
            role=p.role if p else "",
            via=p.via if p else "",
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


def guard(role: str) -> dict[str, Any]:
    """Route keyword arguments: the role check, and the role written into the OpenAPI document."""
    return {"dependencies": [Depends(require(role))], "openapi_extra": {"x-required-role": role}}


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
