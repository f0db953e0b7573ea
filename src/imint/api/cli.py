"""Commands of the web part: ``imint serve``, ``imint users ...``, ``imint tokens ...``, ``imint audit``."""

from __future__ import annotations

import ipaddress
import sys
from typing import Annotated

import typer
from rich.table import Table

from imint.cli_common import (
    DEFAULT_WS,
    WorkspaceOpt,
    audit,
    cli_settings,
    console,
    err_console,
    handle_errors,
    open_workspace,
)
from imint.errors import ValidationError
from imint.store import audit as audit_log
from imint.store.accounts import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, Accounts

users_app = typer.Typer(
    help="Accounts of the web UI and API (roles: viewer, analyst, admin).", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="API tokens for scripts (sent as 'Authorization: Bearer ...').", no_args_is_help=True
)


def _workspace(path):  # noqa: ANN001, ANN202

    return open_workspace(path)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = typer.prompt("Password", hide_input=True)
    again = typer.prompt("Repeat password", hide_input=True)
    if password != again:
        raise ValidationError("the two passwords differ", subject="password")
    return password


@users_app.command("add")
@handle_errors
def users_add(
    name: Annotated[str, typer.Argument(help="Login name (letters, digits, '.', '_', '-').")],
    admin: Annotated[
        bool, typer.Option("--admin", help="Make an administrator (same as --role admin).")
    ] = False,
    role: Annotated[str, typer.Option("--role", "-r", help="viewer, analyst or admin.")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Add a user. The first admin is made this way: `imint users add alice --admin`."""
    role = "admin" if admin else role
    password = _read_password(password_stdin)
    with _workspace(workspace) as ws:
        user = Accounts(ws).add_user(name, password, role, created_by=f"cli:{ws.user}")
        audit(ws, "user-add", name, new_role=role)
    console.print(f"added user [bold]{name}[/] ({role}), id {user['id']}")


@users_app.command("list")
@handle_errors
def users_list(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """List users with their roles and last login."""
    with _workspace(workspace) as ws:
        users = Accounts(ws).users()
    table = Table("name", "role", "status", "created", "last login")
    for u in users:
        table.add_row(
            u["name"],
            u["role"],
            "disabled" if u["disabled"] else "active",
            u["created_at"],
            u["last_login_at"] or "never",
        )
    console.print(table)


@users_app.command("passwd")
@handle_errors
def users_passwd(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Set a user's password (their login sessions end; API tokens stay)."""
    password = _read_password(password_stdin)
    with _workspace(workspace) as ws:
        Accounts(ws).set_password(name, password)
        audit(ws, "password-change", name)
    console.print(f"password of {name} changed")


@users_app.command("set-role")
@handle_errors
def users_set_role(
    name: str,
    role: Annotated[str, typer.Argument(help="viewer, analyst or admin")],
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Change a user's role."""
    with _workspace(workspace) as ws:
        Accounts(ws).update_user(name, role=role)
        audit(ws, "user-update", name, new_role=role)
    console.print(f"{name} is now {role}")


@users_app.command("disable")
@handle_errors
def users_disable(
    name: str,
    enable: Annotated[bool, typer.Option("--enable", help="Enable the account again.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Disable an account (logs it out everywhere; its tokens stop working), or enable it with --enable."""
    with _workspace(workspace) as ws:
        Accounts(ws).update_user(name, disabled=not enable)
        audit(ws, "user-update", name, disabled=not enable)
    console.print(f"{name} {'enabled' if enable else 'disabled'}")


@tokens_app.command("create")
@handle_errors
def tokens_create(
    user: Annotated[str, typer.Option("--user", "-u", help="Whose token (it acts with their role).")],
    label: Annotated[str, typer.Option("--label", "-l", help="What it is for.")] = "",
    expires_days: Annotated[
        int,
        typer.Option(
            "--expires-days",
            min=0,
            max=MAX_TOKEN_DAYS,
            help="Days until the token stops working; 0: never (revoke it by hand).",
        ),
    ] = DEFAULT_TOKEN_DAYS,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Create an API token; it is printed once (only its hash is kept)."""
    with _workspace(workspace) as ws:
        token, secret = Accounts(ws).create_token(user, label, expires_days=expires_days)
        audit(ws, "token-create", user, token_id=token["id"], label=label, expires_at=token["expires_at"])
    until = f"expires {token['expires_at']}" if token["expires_at"] else "never expires"
    err_console.print(f"token {token['id']} for {user}, {until} (shown once; keep it secret):")
    typer.echo(secret)


@tokens_app.command("list")
@handle_errors
def tokens_list(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """List API tokens (prefixes only)."""
    with _workspace(workspace) as ws:
        tokens = Accounts(ws).tokens()
    table = Table("id", "user", "label", "starts with", "created", "last used", "expires", "revoked")
    for t in tokens:
        table.add_row(
            str(t["id"]),
            t["user"],
            t["label"],
            t["prefix"],
            t["created_at"],
            t["last_used_at"] or "never",
            t["expires_at"] or "never",
            t["revoked_at"] or "",
        )
    console.print(table)


@tokens_app.command("revoke")
@handle_errors
def tokens_revoke(token_id: int, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Revoke an API token by its id (it stops working at once)."""
    with _workspace(workspace) as ws:
        Accounts(ws).revoke_token(token_id)
        audit(ws, "token-revoke", str(token_id))
    console.print(f"token {token_id} revoked")


@handle_errors
def audit_cmd(
    actor: Annotated[str | None, typer.Option("--user", "-u", help="Only this user.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", "-a", help="login, search, enroll, confirm...")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="UTC time or date, e.g. 2026-11-26.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Read the audit log: who searched, enrolled, confirmed, exported or logged in, when, from where."""
    import json

    with _workspace(workspace) as ws:
        rows = audit_log.read(ws, actor=actor, action=action, since=since, limit=limit)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r))
        return
    table = Table("when (UTC)", "who", "action", "what", "outcome", "from")
    for r in rows:
        table.add_row(
            r["at"],
            f"{r['actor']} ({r['role']})" if r["role"] else r["actor"],
            r["action"],
            r["target"],
            r["outcome"],
            f"{r['ip']} {r['via']}".strip(),
        )
    console.print(table)


@handle_errors
def serve(
    workspace: WorkspaceOpt = DEFAULT_WS,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port.")] = 8000,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest request body.")] = 200,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="HTTPS-only session cookie (behind a TLS proxy).")
    ] = False,
) -> None:
    """Serve the web UI and REST API (OpenAPI at /openapi.json)."""
    import uvicorn

    from imint.api.app import create_app

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        err_console.print(
            f"[yellow]warning:[/] listening on {host}: other machines can reach this server; "
            "put it behind TLS (and use --secure-cookies)."
        )
    app = create_app(
        settings=cli_settings(workspace),
        max_upload_bytes=max_upload_mb * 1024 * 1024,
        secure_cookies=secure_cookies,
        warm_workers=True,  # the analysis workers load their engines before the first request
    )
    if not Accounts(app.state.ws).has_users():
        err_console.print("[yellow]no users yet:[/] make the first admin with `imint users add NAME --admin`")
    console.print(f"imint web UI on http://{host}:{port}/  (workspace {app.state.ws.path})")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("audit")(audit_cmd)
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
