"""Login, the dashboard, your account and tokens, users (admin), the audit log (admin), jobs.

Thin over the library: accounts in ``imint.store.accounts``, the audit log in ``imint.store.audit``,
jobs in ``imint.api.jobs``; the CLI (``imint users|tokens|audit``) calls the same functions.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from imint.api.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    StrictBool,
    audit_event,
    client_ip,
    done,
    guard,
    principal,
    public,
    render,
    wants_json,
)
from imint.api.jobs import get_job, list_jobs
from imint.store import audit
from imint.store.accounts import (
    DEFAULT_TOKEN_DAYS,
    LOCKOUT_MINUTES,
    MAX_FAILED_LOGINS,
    MAX_TOKEN_DAYS,
    MIN_PASSWORD_LENGTH,
    SESSION_HOURS,
    USERNAME_RE,
    Accounts,
    login_refusal,
)
from imint.store.counts import count_rows
from imint.store.models_api import ROLES

__all__ = ["LOCKOUT_MINUTES", "MAX_FAILED_LOGINS", "router"]

Role = Literal["viewer", "analyst", "admin"]  # imint.store.models_api.ROLES, as a schema enum

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only same-site paths: `next=//evil.example` or `https://...` would be an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


# -- login ------------------------------------------------------------------------------------
@router.get("/login", tags=["auth"], **public())
def login_page(
    request: Request,
    next: Annotated[str, Query(max_length=2000)] = "/",  # noqa: A002 - the usual name
) -> Response:
    login_csrf = secrets.token_urlsafe(24)
    data = {"next": _safe_next(next), "login_csrf": login_csrf, "error": ""}
    response = render(request, "login.html", data)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        login_csrf,
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
        max_age=3600,
    )
    return response


@router.post("/login", tags=["auth"], **public(401, 403, 429))
def login(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    login_csrf: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    """Log in with a name and password; sets the session cookie. Scripts should use API tokens.

    Refused with 429 after too many failed logins for the name, or from the client's address.
    """
    cookie_csrf = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not login_csrf or not cookie_csrf or not secrets.compare_digest(login_csrf, cookie_csrf):
        audit_event(request, "login", username, outcome="denied", actor=username, reason="login CSRF check")
        raise HTTPException(403, "the login form expired; reload the page and try again")
    ws = request.app.state.ws
    ip = client_ip(request)
    refusal = login_refusal(ws, username, ip)
    if refusal is not None:
        audit_event(request, "login", username, outcome="denied", actor=username, reason="too many failures")
        raise HTTPException(429, refusal)
    user_agent = request.headers.get("user-agent", "")
    signed_in = Accounts(ws).login(username, password, ip=ip, user_agent=user_agent)
    if signed_in is None:
        audit_event(request, "login", username, outcome="failed", actor=username)
        data = {"next": _safe_next(next), "login_csrf": login_csrf, "error": "wrong name or password"}
        return render(request, "login.html", data, status_code=401)
    audit.log(  # the caller is who just logged in, not whoever the request's old cookie named
        ws,
        actor=username,
        role=signed_in.role,
        action="login",
        target=username,
        via="session",
        ip=ip,
        user_agent=user_agent,
    )
    response: Response
    if wants_json(request):
        response = JSONResponse({"user": signed_in.user, "role": signed_in.role})
    else:
        response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.secret,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        max_age=SESSION_HOURS * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", tags=["auth"], **guard("viewer"))
def logout(request: Request) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        Accounts(request.app.state.ws).logout(secret)
    audit_event(request, "logout", principal(request).name)
    response = done(request, {"logged_out": True}, "/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- dashboard --------------------------------------------------------------------------------
@router.get("/", tags=["pages"], **guard("viewer"))
def dashboard(request: Request) -> Response:
    ws = request.app.state.ws
    # The evidence count is the core's; each part adds its own (faces: persons, watchlists, candidates).
    counts = {"evidence": count_rows(ws, "evidence"), **ws.parts.overview(ws)}
    return render(request, "dashboard.html", {"counts": counts, "recent_jobs": list_jobs(ws, 5)})


# -- your account and API tokens -------------------------------------------------------------
def _account_page(request: Request, new_token: str | None = None, status_code: int = 200) -> Response:
    me = principal(request)
    data = {
        "user": me.name,
        "role": me.role,
        "tokens": Accounts(request.app.state.ws).tokens(me.name),
        "new_token": new_token,
        "default_token_days": DEFAULT_TOKEN_DAYS,
    }
    return render(request, "account.html", data, status_code=status_code)


@router.get("/account", tags=["account"], **guard("viewer"))
def account(request: Request) -> Response:
    return _account_page(request)


@router.post("/account/tokens", tags=["account"], status_code=201, **guard("viewer"))
def create_own_token(
    request: Request,
    label: Annotated[str, Form(max_length=128)] = "",
    expires_days: Annotated[int, Form(ge=0, le=MAX_TOKEN_DAYS)] = DEFAULT_TOKEN_DAYS,
) -> Response:
    """Create an API token for yourself; it expires after ``expires_days`` (0: never). Shown once."""
    me = principal(request)
    token, secret = Accounts(request.app.state.ws).create_token(me.name, label, expires_days=expires_days)
    audit_event(
        request, "token-create", me.name, token_id=token["id"], label=label, expires_at=token["expires_at"]
    )
    if wants_json(request):
        return JSONResponse({"token": secret, **token}, status_code=201)
    return _account_page(request, new_token=secret, status_code=201)


@router.post("/account/tokens/{token_id}/revoke", tags=["account"], **guard("viewer"))
def revoke_own_token(request: Request, token_id: int) -> Response:
    """Revoke one of your tokens; it stops working at once."""
    me = principal(request)
    token = Accounts(request.app.state.ws).revoke_token(token_id, owner=me.name)
    audit_event(request, "token-revoke", me.name, token_id=token_id)
    return done(request, token, "/account")


@router.post("/account/password", tags=["account"], **guard("viewer"))
def change_own_password(
    request: Request,
    current_password: Annotated[str, Form(min_length=1, max_length=1024)],
    new_password: Annotated[str, Form(min_length=MIN_PASSWORD_LENGTH, max_length=1024)],
) -> Response:
    """Change your password (you need the current one); all your login sessions end, so log in again."""
    me = principal(request)
    if not Accounts(request.app.state.ws).change_own_password(me.name, current_password, new_password):
        audit_event(request, "password-change", me.name, outcome="failed")
        raise HTTPException(403, "the current password is wrong")
    audit_event(request, "password-change", me.name)
    response = done(request, {"user": me.name, "password_changed": True}, "/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- users (admin) ------------------------------------------------------------------------------
@router.get("/users", tags=["users"], **guard("admin"))
def users_page(request: Request) -> Response:
    users = Accounts(request.app.state.ws).users()
    return render(request, "users.html", {"users": users, "roles": list(ROLES)})


@router.post("/users", tags=["users"], status_code=201, **guard("admin", 409))
def add_user(
    request: Request,
    name: Annotated[str, Form(pattern=USERNAME_RE.pattern)],
    password: Annotated[str, Form(min_length=MIN_PASSWORD_LENGTH, max_length=1024)],
    role: Annotated[Role, Form()] = "viewer",
) -> Response:
    me = principal(request)
    user = Accounts(request.app.state.ws).add_user(name, password, role, created_by=me.name)
    audit_event(request, "user-add", name, new_role=role)
    return done(request, user, "/users", status_code=201)


@router.post("/users/{name}", tags=["users"], **guard("admin", 409))
def update_user(
    request: Request,
    name: str,
    role: Annotated[Role | Literal[""], Form(description="The new role; empty: keep it.")] = "",
    disabled: Annotated[StrictBool | None, Form()] = None,
) -> Response:
    """Change a user's role, or disable / enable the account (disabling logs it out everywhere)."""
    me = principal(request)
    if name == me.name and (disabled or (role and role != "admin")):
        raise HTTPException(409, "you cannot demote or disable yourself; ask another admin")
    user = Accounts(request.app.state.ws).update_user(name, role=role or None, disabled=disabled)
    audit_event(request, "user-update", name, new_role=role or None, disabled=disabled)
    return done(request, user, "/users")


# -- audit log (admin) -----------------------------------------------------------------------------
@router.get("/audit", tags=["audit"], **guard("admin"))
def audit_page(
    request: Request,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    since: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> Response:
    rows = audit.read(request.app.state.ws, actor=actor, action=action, since=since, limit=limit)
    filters = {"actor": actor or "", "action": action or "", "since": since or "", "limit": limit}
    return render(request, "audit.html", {"entries": rows, "filters": filters})


# -- jobs --------------------------------------------------------------------------------------------
@router.get("/jobs", tags=["jobs"], **guard("viewer"))
def jobs_page(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    return render(request, "jobs.html", {"jobs": list_jobs(request.app.state.ws, limit)})


@router.get("/jobs/{job_id}", tags=["jobs"], **guard("viewer"))
def job_page(request: Request, job_id: int) -> Response:
    data = {"job": get_job(request.app.state.ws, job_id)}
    template = "job_progress.html" if request.headers.get("hx-request") else "job.html"
    return render(request, template, data)


@router.post("/jobs/{job_id}/cancel", tags=["jobs"], **guard("analyst", 409))
def cancel_job(request: Request, job_id: int) -> Response:
    """Cancel a job: at once when queued, at its next step when running. Its own author or an admin."""
    me = principal(request)
    job = get_job(request.app.state.ws, job_id)
    if job["created_by"] != me.name and me.role != "admin":
        raise HTTPException(403, "only the job's author or an admin can cancel it")
    status = request.app.state.jobs.cancel(job_id)
    audit_event(request, "job-cancel", f"job {job_id}", status=status)
    return done(request, {"id": job_id, "status": status}, f"/jobs/{job_id}")
