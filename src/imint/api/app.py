"""The web application: REST API and server-rendered UI in one FastAPI app.

``create_app(workspace_path)`` opens the workspace, starts the background job
worker and mounts the routers. Every page is also JSON: ask with
``Accept: application/json`` or add ``.json`` to the path (``/persons.json``).
Nothing is served without an account, except the login page and static files.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imint import __version__
from imint.api.deps import (
    ALWAYS_DOCUMENTED,
    NEEDS_ONE_OF,
    NOT_BLANK,
    RECORD_TYPES,
    REQUIRES,
    SESSION_COOKIE,
    UPLOAD_KINDS,
    ErrorBody,
    error_json,
    error_responses,
    wants_json,
)
from imint.api.jobs import JobRunner
from imint.api.uploads import KIND_MEDIA_TYPES
from imint.errors import ImintError
from imint.parts import Parts
from imint.settings import Settings
from imint.store.accounts import Accounts, Principal
from imint.workspace import Workspace

log = logging.getLogger("imint.api")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
DEFAULT_MAX_UPLOAD_MB = 200
PUBLIC_PATHS = {"/login"}
PUBLIC_PREFIXES = ("/static/",)
# JSON twins of pages are asked for with a `.json` suffix; these paths keep theirs.
KEEP_SUFFIX = {"/openapi.json"}

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")


def with_security_headers(headers: list[tuple[bytes, bytes]], *, tls: bool) -> list[tuple[bytes, bytes]]:
    """``headers`` plus every security header the response does not set itself (a stored file sets
    its own CSP). HSTS only behind TLS (``--secure-cookies``), where it means something."""
    have = {k.lower() for k, _ in headers}
    extra = [*SECURITY_HEADERS, HSTS] if tls else SECURITY_HEADERS
    return list(headers) + [(k, v) for k, v in extra if k not in have]


class BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    """The front door, before any route: size limit, `.json` twins, authentication, headers.

    Authentication here (not in each route) means an unknown caller gets 401 for
    every path, including ones that do not exist, and learns nothing about routes.
    """

    def __init__(self, app: ASGIApp, *, ws: Workspace, max_body_bytes: int, tls: bool = False) -> None:
        self.app = app
        self.accounts = Accounts(ws)
        self.max_body_bytes = max_body_bytes
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        inner_send = send

        async def send_with_headers(message: Message) -> None:
            # Every answer gets the security headers: pages, errors, the door's own 401/413, static files.
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = with_security_headers(message.get("headers", []), tls=self.tls)
            await inner_send(message)

        send = send_with_headers
        state = scope.setdefault("state", {})
        path: str = scope["path"]
        if path.endswith(".json") and path not in KEEP_SUFFIX and not path.startswith(PUBLIC_PREFIXES):
            path = path[: -len(".json")] or "/"
            scope["path"] = path
            scope["raw_path"] = path.encode()
            state["want_json"] = True

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._plain(scope, send, 413, f"request body over the {self.max_body_bytes} byte limit")
            return

        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        principal = await anyio.to_thread.run_sync(self._authenticate, headers)
        state["principal"] = principal
        if principal is None and not public:
            await self._unauthorized(scope, send, headers, state)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            if not started:
                await self._plain(scope, send, 413, f"request body over the {self.max_body_bytes} byte limit")

    def _authenticate(self, headers: dict[str, str]) -> Principal | None:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return self.accounts.authenticate(token=auth[7:].strip())
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no session
            return None
        if SESSION_COOKIE in cookie:
            return self.accounts.authenticate(session_secret=cookie[SESSION_COOKIE].value)
        return None

    async def _plain(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        await error_json(status, detail, subject="request body")(scope, _empty_receive, send)

    async def _unauthorized(self, scope: Scope, send: Send, headers: dict[str, str], state: dict) -> None:
        accept = headers.get("accept", "")
        browser = "text/html" in accept and not state.get("want_json") and "application/json" not in accept
        detail = "log in or send an API token (Authorization: Bearer ...)"
        if headers.get("hx-request"):
            response: Response = Response(status_code=401, headers={"HX-Redirect": "/login"})
        elif browser:
            # A browser gets the way in, with the right status code.
            target = scope["path"] + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
            body = (
                '<!doctype html><meta charset=utf-8><link rel=icon href="data:,"><title>Log in - imint</title>'
                f'<p>{html.escape(detail)}.</p><p><a href="/login?next={html.escape(target, quote=True)}">'
                "Log in</a></p>"
            )
            response = Response(body, status_code=401, media_type="text/html")
        else:
            response = error_json(401, detail, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _error_response(
    request: Request,
    status: int,
    detail: str,
    *,
    subject: str | None = None,
    reason: str | None = None,
    errors: list[str] | None = None,
) -> Response:
    if wants_json(request):
        return error_json(status, detail, subject=subject, reason=reason, errors=errors)
    p = getattr(request.state, "principal", None)
    return request.app.state.templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "detail": detail,
            "me": p,
            "csrf_token": p.csrf_token if p else "",
        },
        status_code=status,
    )


def create_app(
    workspace_path: str | Path | None = None,
    *,
    settings: Settings | None = None,
    parts: Parts | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024,
    run_jobs: bool = True,
    secure_cookies: bool = False,
    warm_workers: bool = False,
) -> FastAPI:
    """The imint web app over the workspace at ``workspace_path``.

    ``run_jobs=False`` leaves queued jobs for another process (or a test) to run;
    ``secure_cookies`` marks the session cookie HTTPS-only (set it behind TLS); ``warm_workers``
    starts the parts' worker processes at startup and waits until they are loaded (``imint serve``
    does; otherwise they start with the first photo). ``settings``
    (built by ``imint serve`` from its flags and the environment) and ``parts`` default to a
    plain workspace with the built-in parts.
    """
    ws = Workspace(workspace_path, user="api", settings=settings, parts=parts)
    jobs = JobRunner(ws)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        serving = _serving_services(ws)
        for service in serving:
            service.start_serving()  # e.g. the faces part's analysis workers (started on first use)
        if warm_workers:
            for service in serving:
                warm_up = getattr(service, "warm_up", None)
                if callable(warm_up):
                    # Before the first request: a burst then finds every engine loaded, and no
                    # request waits for (or competes with) a worker still loading one.
                    log.info("%s: workers ready in %.1f s", type(service).__name__, warm_up())
        if run_jobs:
            jobs.start()
        try:
            yield
        finally:
            jobs.stop()
            for service in serving:
                service.stop_serving()

    app = FastAPI(
        title="imint",
        version=__version__,
        description=(
            "Offline imagery-intelligence workbench. Authenticate with a session cookie (the web UI) "
            "or `Authorization: Bearer <token>` (`imint tokens create`). Every page has a JSON twin: "
            "add `.json` to its path or send `Accept: application/json`."
        ),
        docs_url=None,  # Swagger UI loads from a CDN; the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ws = ws
    app.state.jobs = jobs
    app.state.max_upload_bytes = max_upload_bytes
    app.state.secure_cookies = secure_cookies
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    templates.env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str)
    app.state.templates = templates

    @app.exception_handler(ImintError)
    async def _imint_error(request: Request, exc: ImintError) -> Response:
        return _error_response(request, exc.http_status, str(exc), subject=exc.subject, reason=exc.reason)

    @app.exception_handler(OverflowError)
    async def _id_out_of_range(request: Request, exc: OverflowError) -> Response:
        # An id past the database's 64-bit integers names no record: the same answer as any unknown id.
        return _error_response(
            request, 404, "no record with this id", subject=request.url.path, reason="not found"
        )

    @app.exception_handler(DataError)
    async def _id_out_of_range_on_server(request: Request, exc: DataError) -> Response:
        # PostgreSQL's ids are 32-bit INTEGER: it refuses a larger one (SQLSTATE 22003) where SQLite
        # raised OverflowError only past 64 bits. Any other refused value is a server error.
        if getattr(exc.orig, "sqlstate", None) != "22003":
            raise exc
        return await _id_out_of_range(request, OverflowError(str(exc.orig)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = _error_response(request, exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; a path served by two
            # routes (GET and POST /cases) must list both, as its OpenAPI entry does.
            response.headers["Allow"] = ", ".join(_methods_at(request.app, request.scope))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return _error_response(request, 422, "; ".join(problems) or "invalid request", errors=problems)

    from imint.api import routes_core, routes_evidence

    app.include_router(routes_core.router)
    app.include_router(routes_evidence.router)
    for router in ws.parts.routers():
        app.include_router(router)

    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")
    app.add_middleware(GuardMiddleware, ws=ws, max_body_bytes=max_upload_bytes, tls=secure_cookies)
    app.openapi = lambda: _openapi_with_error_bodies(app)  # type: ignore[method-assign]
    return app


def _serving_services(ws: Workspace) -> list[Any]:
    """The parts' services that hold resources while the server runs (``start_serving`` and
    ``stop_serving``), such as worker processes; a part without a service has none."""
    out = []
    for name in ws.parts.names():
        try:
            service = ws.service(name)
        except AttributeError:
            continue
        hooks = (getattr(service, "start_serving", None), getattr(service, "stop_serving", None))
        if all(callable(hook) for hook in hooks):
            out.append(service)
    return out


def _methods_at(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves at the request's path: what the router itself matches (a path
    parameter's converter included, so ``/clusters/run`` is not ``/clusters/{cluster_id:int}``)."""
    probe = {**scope, "type": "http", "method": "GET"}
    return sorted({m for route in _leaf_routes(app.routes, probe) for m in route.methods})


def _leaf_routes(routes: Any, probe: dict[str, Any]) -> Iterator[APIRoute]:
    """The API routes whose path matches ``probe``, inside included routers too (this FastAPI keeps
    each ``include_router`` as a nested router, with its prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            prefix = route.include_context.prefix
            if probe["path"].startswith(prefix):
                yield from _leaf_routes(
                    included.routes, {**probe, "path": probe["path"][len(prefix) :] or "/"}
                )
        elif isinstance(route, APIRoute) and route.matches(probe)[0] is not Match.NONE:
            yield route


def _openapi_with_error_bodies(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, saying what requests may hold and what error bodies really look like.

    FastAPI documents 422 as its own list-of-errors model, which is not what this app sends; every
    4xx here is an ``ErrorBody``. Routes document 401/403/422 and their own statuses through
    ``guard``; this fills in what follows from an operation's shape (404 with a path parameter,
    400/413 with a body), replaces the default validation schema wherever it is still referenced,
    and says what a form or query string can carry (see ``_form_schema``), so a client generated
    from /openapi.json sends what the routes take and can read every answer it gets.
    """
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(
        "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for path, ops in doc.get("paths", {}).items():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            needed = set(ALWAYS_DOCUMENTED) if op.get("x-required-role") != "public" else {422}
            if "{" in path:
                needed.add(404)
            if "requestBody" in op:
                needed |= {400, 413}  # 400: a body that is not the form/multipart it claims to be
            for code, entry in error_responses(*needed).items():
                responses.setdefault(str(code), _error_entry(entry["description"]))
            for code, entry in responses.items():
                if code.startswith("4"):
                    entry["content"] = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    }
            for parameter in op.get("parameters", []):
                if parameter.get("in") == "query":
                    parameter["schema"] = _without_null(parameter.get("schema", {}))
            _form_schema(op, components, sorted(app.state.ws.parts.record_types()))
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = doc
    return doc


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as just ``X``: a form field or query parameter is a string or absent, never a JSON
    null (a client that sent the word ``null`` would be refused), so an optional field is one that is
    not required, which the document already says."""
    options = schema.get("anyOf")
    if not options or {"type": "null"} not in options:
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    kept = {k: v for k, v in schema.items() if k != "anyOf"}
    if kept.get("default", "") is None:
        kept.pop("default")
    return {**rest[0], **kept} if len(rest) == 1 else {**kept, "anyOf": rest}


def _form_schema(op: dict[str, Any], components: dict[str, Any], record_types: list[str]) -> None:
    """A form body's schema as the route reads it: no JSON nulls, the fields of which one must be
    sent (``guard(needs_one_of=...)``), each upload field's media types (``guard(uploads=...)``) and
    the record types a TYPE:ID field takes."""
    needs_one_of = op.pop(NEEDS_ONE_OF, None)
    requires = op.pop(REQUIRES, None)
    upload_kinds = op.pop(UPLOAD_KINDS, None)
    for media_type, content in op.get("requestBody", {}).get("content", {}).items():
        ref = content.get("schema", {}).get("$ref", "")
        body = components.get(ref.rsplit("/", 1)[-1]) if ref else content.get("schema")
        if body is None:
            continue
        properties = {k: _without_null(v) for k, v in body.get("properties", {}).items()}
        if media_type == "multipart/form-data":
            properties = {k: _one_file_or_several(v) for k, v in properties.items()}
        for name, field in properties.items():
            if field.pop(RECORD_TYPES, False):
                field["pattern"] = rf"^\s*(?:{'|'.join(map(re.escape, record_types))}):\d+\s*$"
            if name not in body.get("required", []):
                properties[name] = _empty_is_absent(field)
        body["properties"] = properties
        for keyword, groups in (needs_one_of or {}).items():
            body[keyword] = [
                {"required": fields, "properties": {f: _given(properties[f]) for f in fields}}
                for fields in groups
            ]
        for field, other in (requires or {}).items():
            # Sent empty is not sent (FastAPI), so only a non-empty field needs the other one.
            body.setdefault("dependentSchemas", {})[field] = {
                "anyOf": [
                    {"properties": {field: {"maxLength": 0}}},
                    {"required": [other], "properties": {other: _given(properties[other])}},
                ]
            }
        if upload_kinds and media_type == "multipart/form-data":
            content["encoding"] = {
                field: {"contentType": ", ".join(t for kind in kinds for t in KIND_MEDIA_TYPES[kind])}
                for field, kinds in upload_kinds.items()
            }


FILE_PART = "application/octet-stream"  # OpenAPI 3.1's contentMediaType of a file (was format: binary)


def _one_file_or_several(field: dict[str, Any]) -> dict[str, Any]:
    """A list of files in a multipart form (``list[UploadFile]``) as the wire has it: one part per file,
    each named like the field, so one file sent on its own is the same request, byte for byte, as a
    list of one, and the route takes it. The schema says so: a file, or an array of files."""
    items = field.get("items")
    if (
        field.get("type") != "array"
        or not isinstance(items, dict)
        or items.get("contentMediaType") != FILE_PART
    ):
        return field
    return {**field, "type": ["array", "string"], "contentMediaType": FILE_PART}


def _empty_is_absent(field: dict[str, Any]) -> dict[str, Any]:
    """An optional text field also takes the empty string: FastAPI reads ``field=`` as not sent (an
    empty <select> option, an untouched input), so the schema lets it through as the route does."""
    if field.get("type") != "string" or "contentMediaType" in field or field.get("format") == "binary":
        return field
    field = dict(field)
    if "enum" in field and "" not in field["enum"]:
        field["enum"] = [*field["enum"], ""]
    if "pattern" in field:
        field["pattern"] = f"^$|{field['pattern']}"
    field.pop("minLength", None)
    return field


def _given(field: dict[str, Any]) -> dict[str, Any]:
    """What sending a field means when one of several must be sent: more than white space for text
    (the route strips it and takes blank as not sent), at least one item for a list."""
    if field.get("type") == "array" or field.get("contentMediaType") == FILE_PART:
        items = field.get("items", {})
        if items.get("type") == "string" and "contentMediaType" not in items:
            return {"minItems": 1, "items": {"minLength": 1, "pattern": NOT_BLANK}}
        return {"minItems": 1}  # a list of files: at least one (a file sent on its own is one)
    if field.get("type") == "string" and "contentMediaType" not in field:
        return {"minLength": 1, "pattern": NOT_BLANK}
    return {}


def _error_entry(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
