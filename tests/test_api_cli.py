"""The account and audit commands: `imint users`, `imint tokens`, `imint audit`."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from imint.cli import app

runner = CliRunner()


def _run(*args: str, stdin: str | None = None):  # noqa: ANN202
    return runner.invoke(app, list(args), input=stdin)


def test_first_admin_then_token_then_the_audit_log(tmp_path):  # noqa: ANN001
    ws = str(tmp_path / "ws")
    r = _run("users", "add", "alice", "--admin", "--password-stdin", "-w", ws, stdin="a long password\n")
    assert r.exit_code == 0, r.output
    assert "alice" in r.output and "admin" in r.output

    r = _run(
        "users", "add", "bob", "--role", "viewer", "-w", ws, stdin="another password\nanother password\n"
    )
    assert r.exit_code == 0, r.output

    r = _run("users", "list", "-w", ws)
    assert "alice" in r.output and "bob" in r.output and "viewer" in r.output

    r = _run("tokens", "create", "--user", "bob", "--label", "script", "-w", ws)
    assert r.exit_code == 0
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("imint_") and len(token) > 40

    from fastapi.testclient import TestClient

    from imint.api.app import create_app

    with TestClient(create_app(ws)) as client:
        assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    r = _run("audit", "--json", "-w", ws)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    # Newest first; the CLI records itself as the way in.
    assert [(x["action"], x["target"], x["via"]) for x in rows] == [
        ("token-create", "bob", "cli"),
        ("user-add", "bob", "cli"),
        ("user-add", "alice", "cli"),
    ]
    assert _run("audit", "--action", "user-add", "-w", ws).exit_code == 0


def test_bad_values_are_named_and_exit_non_zero(tmp_path):  # noqa: ANN001
    ws = str(tmp_path / "ws")
    r = _run(
        "users", "add", "carol", "--role", "root", "--password-stdin", "-w", ws, stdin="a long password\n"
    )
    assert r.exit_code == 2 and "role" in r.output
    r = _run("users", "add", "carol", "--password-stdin", "-w", ws, stdin="short\n")
    assert r.exit_code == 2 and "password" in r.output
    r = _run("users", "add", "carol", "-w", ws, stdin="a long password\ndifferent password\n")
    assert r.exit_code == 2 and "differ" in r.output
    r = _run("tokens", "create", "--user", "nobody", "-w", ws)
    assert r.exit_code == 3 and "nobody" in r.output


def test_an_admin_resets_a_password_from_the_command_line(tmp_path):  # noqa: ANN001
    from imint.api import security
    from imint.workspace import Workspace

    ws = str(tmp_path / "ws")
    _run("users", "add", "dave", "--password-stdin", "-w", ws, stdin="first password\n")
    r = _run("users", "passwd", "dave", "--password-stdin", "-w", ws, stdin="second password\n")
    assert r.exit_code == 0, r.output
    with Workspace(ws) as w, w.session() as s:
        assert security.check_password(s, "dave", "second password") is not None
        assert security.check_password(s, "dave", "first password") is None


def _client(ws: str):  # noqa: ANN202
    from fastapi.testclient import TestClient

    from imint.api.app import create_app

    return TestClient(create_app(ws, run_jobs=False))


def test_tokens_expire_by_default_and_are_revoked_from_the_command_line(tmp_path):  # noqa: ANN001
    from imint.store.accounts import DEFAULT_TOKEN_DAYS

    ws = str(tmp_path / "ws")
    _run("users", "add", "erin", "--role", "analyst", "--password-stdin", "-w", ws, stdin="a long password\n")
    r = _run("tokens", "create", "--user", "erin", "-w", ws)
    assert r.exit_code == 0 and "expires" in r.stderr
    expiring = r.stdout.strip().splitlines()[-1]
    r = _run("tokens", "create", "--user", "erin", "--expires-days", "0", "-w", ws)
    assert r.exit_code == 0 and "never expires" in r.stderr
    forever = r.stdout.strip().splitlines()[-1]
    assert _run("tokens", "create", "--user", "erin", "--expires-days", "-1", "-w", ws).exit_code == 2

    from imint.store.accounts import Accounts
    from imint.workspace import Workspace

    with Workspace(ws) as w:
        tokens = Accounts(w).tokens("erin")
    assert [t["expires_at"] is None for t in tokens] == [False, True]
    lifetime = dt.datetime.fromisoformat(tokens[0]["expires_at"]) - dt.datetime.fromisoformat(
        tokens[0]["created_at"]
    )
    assert lifetime.days == DEFAULT_TOKEN_DAYS
    listing = _run("tokens", "list", "-w", ws)
    assert (
        listing.exit_code == 0
        and "expires" in listing.output
        and "2" + tokens[0]["expires_at"][1:4] in listing.output
    )

    with _client(ws) as client:
        for secret in (expiring, forever):
            assert client.get("/", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        assert _run("tokens", "revoke", str(tokens[1]["id"]), "-w", ws).exit_code == 0
        assert client.get("/", headers={"Authorization": f"Bearer {forever}"}).status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {expiring}"}).status_code == 200
    assert _run("tokens", "revoke", "9999", "-w", ws).exit_code == 3


def test_a_password_reset_or_disable_from_the_command_line_ends_web_sessions(tmp_path):  # noqa: ANN001
    from tests.api_support import login

    ws = str(tmp_path / "ws")
    _run("users", "add", "fay", "--password-stdin", "-w", ws, stdin="first password\n")
    with _client(ws) as client:
        login(client, "fay", "first password")
        assert client.get("/", headers={"Accept": "application/json"}).status_code == 200
        assert (
            _run("users", "passwd", "fay", "--password-stdin", "-w", ws, stdin="second password\n").exit_code
            == 0
        )
        assert client.get("/", headers={"Accept": "application/json"}).status_code == 401
        login(client, "fay", "second password")
        assert _run("users", "disable", "fay", "-w", ws).exit_code == 0
        assert client.get("/", headers={"Accept": "application/json"}).status_code == 401
