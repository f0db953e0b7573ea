"""The account and audit commands: `imint users`, `imint tokens`, `imint audit`."""

from __future__ import annotations

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
