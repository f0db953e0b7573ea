"""Login, the dashboard, your account and tokens, users (admin), the audit log (admin), jobs."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select

from imint.api import audit, security
from imint.api.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    audit_event,
    client_ip,
    done,
    guard,
    principal,
    render,
    wants_json,
)
from imint.api.jobs import job_to_dict
from imint.faces.tables import Match, Person, Watchlist
from imint.store.models import EvidenceRow
from imint.store.models_api import ROLES, ApiToken, AuditEntry, Job, User

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only same-site paths: `next=//evil.example` or `https://...` would be an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


MAX_FAILED_LOGINS = 10
LOCKOUT_MINUTES = 15


def _recent_failures(ws: Any, username: str) -> int:
    """Failed logins for this name in the last LOCKOUT_MINUTES (read from the audit log itself)."""
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=LOCKOUT_MINUTES)).replace(microsecond=0)
    since_text = since.isoformat().replace("+00:00", "Z")
    with ws.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "login",
                AuditEntry.outcome == "failed",
                AuditEntry.actor == username,
                AuditEntry.at >= since_text,
            )
        )


# -- login ------------------------------------------------------------------------------------
@router.get("/login", tags=["auth"], openapi_extra={"x-required-role": "public"})
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the usual name
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


@router.post("/login", tags=["auth"], openapi_extra={"x-required-role": "public"})
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    login_csrf: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    """Log in with a name and password; sets the session cookie. Scripts should use API tokens."""
    cookie_csrf = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not login_csrf or not cookie_csrf or not secrets.compare_digest(login_csrf, cookie_csrf):
        audit_event(request, "login", username, outcome="denied", actor=username, reason="login CSRF check")
        raise HTTPException(403, "the login form expired; reload the page and try again")
    ws = request.app.state.ws
    if _recent_failures(ws, username) >= MAX_FAILED_LOGINS:
        audit_event(request, "login", username, outcome="denied", actor=username, reason="too many failures")
        raise HTTPException(
            429, f"too many failed logins for this name; wait {LOCKOUT_MINUTES} minutes or ask an admin"
        )
    with ws.session() as s:
        user = security.check_password(s, username, password)
        if user is not None:
            secret, _csrf = security.create_session(
                s, user, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")
            )
            role = user.role
    if user is None:
        audit_event(request, "login", username, outcome="failed", actor=username)
        data = {"next": _safe_next(next), "login_csrf": login_csrf, "error": "wrong name or password"}
        return render(request, "login.html", data, status_code=401)
    with ws.session() as s:
        audit.record(
            s,
            actor=username,
            role=role,
            action="login",
            target=username,
            via="session",
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    response: Response
    if wants_json(request):
        response = JSONResponse({"user": username, "role": role})
    else:
        response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        max_age=security.SESSION_HOURS * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", tags=["auth"], **guard("viewer"))
def logout(request: Request) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        with request.app.state.ws.session() as s:
            security.end_session(s, secret)
    audit_event(request, "logout", principal(request).name)
    response = done(request, {"logged_out": True}, "/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- dashboard --------------------------------------------------------------------------------
@router.get("/", tags=["pages"], **guard("viewer"))
def dashboard(request: Request) -> Response:
    with request.app.state.ws.session() as s:
        counts = {
            "evidence": s.scalar(select(func.count()).select_from(EvidenceRow)),
            "persons": s.scalar(select(func.count()).select_from(Person)),
            "watchlists": s.scalar(select(func.count()).select_from(Watchlist)),
            "candidates_to_review": s.scalar(
                select(func.count()).select_from(Match).where(Match.status == "candidate")
            ),
        }
        recent_jobs = [job_to_dict(j) for j in s.scalars(select(Job).order_by(Job.id.desc()).limit(5))]
    return render(request, "dashboard.html", {"counts": counts, "recent_jobs": recent_jobs})


# -- your account and API tokens -------------------------------------------------------------
def _token_dict(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "label": t.label,
        "prefix": t.prefix,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    }


@router.get("/account", tags=["account"], **guard("viewer"))
def account(request: Request) -> Response:
    me = principal(request)
    with request.app.state.ws.session() as s:
        tokens = s.scalars(select(ApiToken).where(ApiToken.user_id == me.user_id).order_by(ApiToken.id))
        data = {
            "user": me.name,
            "role": me.role,
            "tokens": [_token_dict(t) for t in tokens],
            "new_token": None,
        }
    return render(request, "account.html", data)


@router.post("/account/tokens", tags=["account"], status_code=201, **guard("viewer"))
def create_own_token(request: Request, label: Annotated[str, Form(max_length=128)] = "") -> Response:
    """Create an API token for yourself. The secret is shown once."""
    me = principal(request)
    with request.app.state.ws.session() as s:
        row, secret = security.create_token(s, s.get(User, me.user_id), label)
        token = _token_dict(row)
    audit_event(request, "token-create", me.name, token_id=token["id"], label=label)
    data = {"token": secret, **token}
    if wants_json(request):
        return JSONResponse(data, status_code=201)
    with request.app.state.ws.session() as s:
        tokens = s.scalars(select(ApiToken).where(ApiToken.user_id == me.user_id).order_by(ApiToken.id))
        page = {
            "user": me.name,
            "role": me.role,
            "tokens": [_token_dict(t) for t in tokens],
            "new_token": secret,
        }
    return render(request, "account.html", page, status_code=201)


@router.post("/account/tokens/{token_id}/revoke", tags=["account"], **guard("viewer"))
def revoke_own_token(request: Request, token_id: int) -> Response:
    me = principal(request)
    with request.app.state.ws.session() as s:
        token = _token_dict(security.revoke_token(s, token_id, owner_id=me.user_id))
    audit_event(request, "token-revoke", me.name, token_id=token_id)
    return done(request, token, "/account")


@router.post("/account/password", tags=["account"], **guard("viewer"))
def change_own_password(
    request: Request,
    current_password: Annotated[str, Form(max_length=1024)],
    new_password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Change your password (you need the current one); your login sessions end, so log in again."""
    me = principal(request)
    with request.app.state.ws.session() as s:
        if security.check_password(s, me.name, current_password) is None:
            ok = False
        else:
            security.set_password(s, me.name, new_password)
            ok = True
    if not ok:
        audit_event(request, "password-change", me.name, outcome="failed")
        raise HTTPException(403, "the current password is wrong")
    audit_event(request, "password-change", me.name)
    response = done(request, {"user": me.name, "password_changed": True}, "/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- users (admin) ------------------------------------------------------------------------------
def _user_dict(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "role": u.role,
        "disabled": u.disabled,
        "created_at": u.created_at,
        "created_by": u.created_by,
        "last_login_at": u.last_login_at,
    }


@router.get("/users", tags=["users"], **guard("admin"))
def users_page(request: Request) -> Response:
    with request.app.state.ws.session() as s:
        users = [_user_dict(u) for u in s.scalars(select(User).order_by(User.name))]
    return render(request, "users.html", {"users": users, "roles": list(ROLES)})


@router.post("/users", tags=["users"], status_code=201, **guard("admin"))
def add_user(
    request: Request,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form(max_length=16)] = "viewer",
) -> Response:
    me = principal(request)
    with request.app.state.ws.session() as s:
        user = _user_dict(security.add_user(s, name, password, role, created_by=me.name))
    audit_event(request, "user-add", name, new_role=role)
    return done(request, user, "/users", status_code=201)


@router.post("/users/{name}", tags=["users"], **guard("admin"))
def update_user(
    request: Request,
    name: str,
    role: Annotated[str | None, Form(max_length=16)] = None,
    disabled: Annotated[bool | None, Form()] = None,
) -> Response:
    """Change a user's role, or disable / enable the account (disabling logs it out)."""
    me = principal(request)
    if name == me.name and (disabled or (role and role != "admin")):
        raise HTTPException(409, "you cannot demote or disable yourself; ask another admin")
    with request.app.state.ws.session() as s:
        if role is not None:
            security.set_role(s, name, role)
        if disabled is not None:
            security.set_disabled(s, name, disabled)
        user = _user_dict(security.get_user(s, name))
    audit_event(request, "user-update", name, new_role=role, disabled=disabled)
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
    with request.app.state.ws.session() as s:
        rows = [
            audit.to_dict(e) for e in audit.entries(s, actor=actor, action=action, since=since, limit=limit)
        ]
    filters = {"actor": actor or "", "action": action or "", "since": since or "", "limit": limit}
    return render(request, "audit.html", {"entries": rows, "filters": filters})


# -- jobs --------------------------------------------------------------------------------------------
@router.get("/jobs", tags=["jobs"], **guard("viewer"))
def jobs_page(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    with request.app.state.ws.session() as s:
        jobs = [job_to_dict(j) for j in s.scalars(select(Job).order_by(Job.id.desc()).limit(limit))]
    return render(request, "jobs.html", {"jobs": jobs})


@router.get("/jobs/{job_id}", tags=["jobs"], **guard("viewer"))
def job_page(request: Request, job_id: int) -> Response:
    with request.app.state.ws.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        data = {"job": job_to_dict(job)}
    template = "job_progress.html" if request.headers.get("hx-request") else "job.html"
    return render(request, template, data)


@router.post("/jobs/{job_id}/cancel", tags=["jobs"], **guard("analyst"))
def cancel_job(request: Request, job_id: int) -> Response:
    """Cancel a job: at once when queued, at its next step when running. Its own author or an admin."""
    me = principal(request)
    with request.app.state.ws.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        if job.created_by != me.name and me.role != "admin":
            raise HTTPException(403, "only the job's author or an admin can cancel it")
    status = request.app.state.jobs.cancel(job_id)
    audit_event(request, "job-cancel", f"job {job_id}", status=status)
    return done(request, {"id": job_id, "status": status}, f"/jobs/{job_id}")
