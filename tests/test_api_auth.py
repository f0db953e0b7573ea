"""Nobody reaches the data without an account, and each role reaches only what it may."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from imint.api import security
from imint.workspace import Workspace
from tests.api_support import PASSWORD, ROLES, login, site  # noqa: F401 - pytest fixture
from tests.db_support import ON_POSTGRES, RefusedByDatabase, execute, query

RANK = {r: i for i, r in enumerate(ROLES)}
SAMPLE_PARAMS = {"sha256": "0" * 64, "name": "nobody"}


def _routes(app):  # noqa: ANN001, ANN202
    """(method, path with sample parameters, required role) for every route in the OpenAPI document."""
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            url = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "999999"), path)
            yield method.upper(), url, op.get("x-required-role")


def test_every_route_declares_a_role_and_only_login_is_public(site):  # noqa: F811
    routes = list(_routes(site.app))
    assert len(routes) > 20
    assert all(role in ("public", *ROLES) for _, _, role in routes), [r for r in routes if r[2] is None]
    assert {(m, u) for m, u, role in routes if role == "public"} == {("GET", "/login"), ("POST", "/login")}


def test_every_route_is_401_without_credentials(site):  # noqa: F811
    for method, url, role in _routes(site.app):
        if role == "public":
            continue
        for variant in (url, url + ".json"):
            r = site.client.request(method, variant, headers={"Accept": "application/json"})
            assert r.status_code == 401, f"{method} {variant} answered {r.status_code} without credentials"
        # A browser is told how to log in, still with 401.
        r = site.client.request(method, url, headers={"Accept": "text/html"})
        assert r.status_code == 401 and "/login" in r.text


def test_every_route_is_403_below_its_role_and_open_at_it(site):  # noqa: F811
    checked = 0
    for method, url, needed in _routes(site.app):
        if needed == "public":
            continue
        for role in ROLES:
            r = site.client.request(method, url, headers=site.auth(role))
            if RANK[role] < RANK[needed]:
                assert r.status_code == 403, f"{role} got {r.status_code} on {method} {url} (needs {needed})"
                checked += 1
            else:
                assert r.status_code not in (401, 403), f"{role} refused on {method} {url}: {r.text}"
    assert checked > 10


def test_unknown_paths_are_401_too_so_routes_do_not_leak(site):  # noqa: F811
    assert site.client.get("/no/such/page").status_code == 401
    assert site.client.get("/no/such/page", headers=site.auth("viewer")).status_code == 404


def test_wrong_password_fails_and_is_audited(site):  # noqa: F811
    page = site.client.get("/login", headers={"Accept": "text/html"})
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    r = site.client.post(
        "/login",
        data={"username": "admin", "password": "wrong password", "login_csrf": login_csrf},
        headers={"Accept": "text/html"},
    )
    assert r.status_code == 401 and "wrong name or password" in r.text
    assert "imint_session" not in site.client.cookies
    entries = site.client.get("/audit.json?action=login", headers=site.auth("admin")).json()["entries"]
    assert entries[0]["actor"] == "admin" and entries[0]["outcome"] == "failed"
    assert entries[0]["ip"] and entries[0]["at"].endswith("Z")


def test_login_without_the_form_token_is_refused(site):  # noqa: F811
    r = site.client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403


def test_login_redirects_only_to_own_pages(site):  # noqa: F811
    page = site.client.get("/login?next=//evil.example/x", headers={"Accept": "text/html"})
    assert 'name="next" value="/"' in page.text
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    r = site.client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORD,
            "login_csrf": login_csrf,
            "next": "https://evil.example",
        },
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_session_posts_need_the_csrf_token(site):  # noqa: F811
    csrf = login(site.client, "analyst")
    form = {"name": "Harbour watch", "description": "ships"}
    refused = site.client.post("/watchlists", data=form, headers={"Accept": "application/json"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = site.client.post(
        "/watchlists", data=form, headers={"X-CSRF-Token": "x" * 43, "Accept": "application/json"}
    )
    assert wrong.status_code == 403
    by_header = site.client.post(
        "/watchlists", data=form, headers={"X-CSRF-Token": csrf, "Accept": "application/json"}
    )
    assert by_header.status_code == 201, by_header.text
    by_field = site.client.post(
        "/watchlists", data={"name": "Second", "csrf_token": csrf}, headers={"Accept": "application/json"}
    )
    assert by_field.status_code == 201


def test_tokens_need_no_csrf_and_stop_working_when_revoked(site):  # noqa: F811
    r = site.client.post("/watchlists", data={"name": "by token"}, headers=site.auth("analyst"))
    assert r.status_code == 201
    mine = site.client.get("/account.json", headers=site.auth("analyst")).json()["tokens"]
    revoke = site.client.post(f"/account/tokens/{mine[0]['id']}/revoke", headers=site.auth("analyst"))
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
    assert site.client.get("/", headers=site.auth("analyst")).status_code == 401


def test_a_user_cannot_revoke_someone_elses_token(site):  # noqa: F811
    admin_tokens = site.client.get("/account.json", headers=site.auth("admin")).json()["tokens"]
    r = site.client.post(f"/account/tokens/{admin_tokens[0]['id']}/revoke", headers=site.auth("viewer"))
    assert r.status_code == 404
    assert site.client.get("/", headers=site.auth("admin")).status_code == 200


def test_secrets_are_stored_only_as_hashes(site):  # noqa: F811
    login(site.client, "viewer")
    session_secret = site.client.cookies["imint_session"]
    if ON_POSTGRES:  # no file to read: every value of every table, as text
        tables = [
            t for (t,) in query(site.workspace, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        raw = "".join(repr(query(site.workspace, f'SELECT * FROM "{t}"')) for t in tables).encode()
    else:
        raw = b""
        for f in sorted(site.workspace.glob("imint.db*")):
            raw += f.read_bytes()
    assert site.tokens["viewer"].encode() not in raw
    assert session_secret.encode() not in raw
    assert PASSWORD.encode() not in raw
    hashes = [h for (h,) in query(site.workspace, "SELECT password_hash FROM users")]
    assert all(h.startswith("$argon2") for h in hashes)


def test_disabled_users_are_logged_out_everywhere(site):  # noqa: F811
    login(site.client, "viewer")
    assert site.client.get("/", headers={"Accept": "application/json"}).status_code == 200
    r = site.client.post("/users/viewer", data={"disabled": "true"}, headers=site.auth("admin"))
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert site.client.get("/", headers={"Accept": "application/json"}).status_code == 401
    assert site.client.get("/", headers=site.auth("viewer")).status_code == 401


def test_admin_adds_users_and_bad_values_are_named(site):  # noqa: F811
    r = site.client.post(
        "/users",
        data={"name": "dora", "password": "long enough", "role": "analyst"},
        headers=site.auth("admin"),
    )
    assert r.status_code == 201 and r.json()["role"] == "analyst"
    dup = site.client.post(
        "/users", data={"name": "dora", "password": "long enough"}, headers=site.auth("admin")
    )
    assert dup.status_code == 409 and "dora" in dup.json()["detail"]
    bad_role = site.client.post(
        "/users", data={"name": "eve", "password": "long enough", "role": "root"}, headers=site.auth("admin")
    )
    assert bad_role.status_code == 422 and "role" in bad_role.json()["detail"]
    short = site.client.post("/users", data={"name": "eve", "password": "short"}, headers=site.auth("admin"))
    assert short.status_code == 422 and "password" in short.json()["detail"]


def test_audit_log_is_append_only(site):  # noqa: F811
    login(site.client, "admin")
    before = query(site.workspace, "SELECT * FROM audit_log ORDER BY id")
    assert len(before) >= 1
    with pytest.raises(RefusedByDatabase, match="append-only"):
        execute(site.workspace, "UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(RefusedByDatabase, match="append-only"):
        execute(site.workspace, "DELETE FROM audit_log")
    assert query(site.workspace, "SELECT * FROM audit_log ORDER BY id")[: len(before)] == before


def test_pages_send_security_headers(site):  # noqa: F811
    r = site.client.get("/", headers=site.auth("viewer"))
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_password_check_uses_argon2_and_rejects_unknown_users(tmp_path):
    with Workspace(tmp_path / "ws") as ws, ws.session() as s:
        security.add_user(s, "alice", "a long password", "admin")
        assert security.check_password(s, "alice", "a long password").name == "alice"
        assert security.check_password(s, "alice", "a long passwore") is None
        assert security.check_password(s, "bob", "a long password") is None


def test_repeated_failed_logins_lock_the_name_for_a_while(site):  # noqa: F811
    from imint.api.routes_core import MAX_FAILED_LOGINS

    def attempt(password: str) -> int:
        page = site.client.get("/login", headers={"Accept": "text/html"})
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
        data = {"username": "analyst", "password": password, "login_csrf": token}
        return site.client.post("/login", data=data, headers={"Accept": "application/json"}).status_code

    assert [attempt("guess") for _ in range(MAX_FAILED_LOGINS)] == [401] * MAX_FAILED_LOGINS
    assert attempt(PASSWORD) == 429  # even the right password waits
    denied = site.client.get("/audit.json?action=login", headers=site.auth("admin")).json()["entries"][0]
    assert denied["outcome"] == "denied" and denied["details"]["reason"] == "too many failures"
    assert site.client.get("/", headers=site.auth("analyst")).status_code == 200  # tokens still work


def test_changing_your_password_needs_the_current_one_and_logs_you_out(site):  # noqa: F811
    csrf = login(site.client, "viewer")
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    wrong = site.client.post(
        "/account/password",
        data={"current_password": "nope", "new_password": "a new long one"},
        headers=headers,
    )
    assert wrong.status_code == 403
    r = site.client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "a new long one"},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["password_changed"] is True
    assert site.client.get("/", headers={"Accept": "application/json"}).status_code == 401
    login(site.client, "viewer", "a new long one")
    outcomes = [
        e["outcome"]
        for e in site.client.get("/audit.json?action=password-change", headers=site.auth("admin")).json()[
            "entries"
        ]
    ]
    assert outcomes == ["ok", "failed"]


def _login_status(client, name: str, password: str) -> int:  # noqa: ANN001
    page = client.get("/login", headers={"Accept": "text/html"})
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    data = {"username": name, "password": password, "login_csrf": token}
    return client.post("/login", data=data, headers={"Accept": "application/json"}).status_code


def test_failed_logins_from_one_address_are_limited_across_names(site, monkeypatch):  # noqa: F811
    from imint.store import accounts

    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS_PER_IP", 4)
    # Four different names, each under its own limit: the address is what gets locked.
    assert [_login_status(site.client, f"guess{i}", "nope") for i in range(4)] == [401] * 4
    page = site.client.get("/login", headers={"Accept": "text/html"})
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    r = site.client.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD, "login_csrf": token},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 429 and "address" in r.json()["detail"]
    assert "imint_session" not in site.client.cookies
    denied = site.client.get("/audit.json?action=login", headers=site.auth("admin")).json()["entries"][0]
    assert denied["outcome"] == "denied" and denied["actor"] == "viewer"


def test_the_name_limit_holds_for_a_name_tried_from_many_addresses(site):  # noqa: F811
    from imint.store import accounts, audit

    ws = site.app.state.ws
    for i in range(accounts.MAX_FAILED_LOGINS):  # failures recorded from ten other addresses
        audit.log(ws, actor="analyst", action="login", target="analyst", outcome="failed", ip=f"10.0.0.{i}")
    assert accounts.login_refusal(ws, "analyst", "10.9.9.9") is not None
    assert accounts.login_refusal(ws, "viewer", "10.9.9.9") is None
    assert _login_status(site.client, "analyst", PASSWORD) == 429


def test_tokens_expire(site):  # noqa: F811
    from imint.store.accounts import Accounts

    accounts = Accounts(site.app.state.ws)
    token, secret = accounts.create_token("analyst", "short-lived", expires_days=1)
    assert token["expires_at"] > token["created_at"]
    headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
    assert site.client.get("/", headers=headers).status_code == 200
    # a day later
    execute(
        site.workspace,
        "UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00Z' WHERE id = :id",
        id=token["id"],
    )
    assert site.client.get("/", headers=headers).status_code == 401
    assert site.client.get("/", headers=site.auth("analyst")).status_code == 200  # the others still work


def test_account_tokens_expire_by_default_and_zero_means_never(site):  # noqa: F811
    from imint.store.accounts import DEFAULT_TOKEN_DAYS

    r = site.client.post("/account/tokens", data={"label": "default"}, headers=site.auth("viewer"))
    assert r.status_code == 201
    made = r.json()
    made_at = dt.datetime.fromisoformat(made["created_at"])
    days = (dt.datetime.fromisoformat(made["expires_at"]) - made_at).days
    assert days == DEFAULT_TOKEN_DAYS
    never = site.client.post(
        "/account/tokens", data={"label": "forever", "expires_days": "0"}, headers=site.auth("viewer")
    )
    assert never.status_code == 201 and never.json()["expires_at"] is None
    too_long = site.client.post(
        "/account/tokens", data={"expires_days": "99999"}, headers=site.auth("viewer")
    )
    assert too_long.status_code == 422 and "expires_days" in too_long.json()["detail"]
    listed = site.client.get("/account.json", headers=site.auth("viewer")).json()["tokens"]
    assert [t["expires_at"] is None for t in listed] == [True, False, True]  # the fixture's token: never


def test_a_revoked_token_is_refused_at_once_and_revoking_twice_keeps_the_time(site):  # noqa: F811
    mine = site.client.get("/account.json", headers=site.auth("viewer")).json()["tokens"][0]
    first = site.client.post(f"/account/tokens/{mine['id']}/revoke", headers=site.auth("admin"))
    assert first.status_code == 404  # an admin's own /account revokes only the admin's tokens
    r = site.client.post(f"/account/tokens/{mine['id']}/revoke", headers=site.auth("viewer"))
    assert r.status_code == 200
    assert site.client.get("/account.json", headers=site.auth("viewer")).status_code == 401


def test_a_password_change_ends_every_session_of_the_user(site):  # noqa: F811
    from fastapi.testclient import TestClient

    other = TestClient(site.app)  # a second browser, logged in as the same user
    login(other, "viewer")
    csrf = login(site.client, "viewer")
    assert other.get("/", headers={"Accept": "application/json"}).status_code == 200
    r = site.client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "a new long one"},
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    assert r.status_code == 200
    assert other.get("/", headers={"Accept": "application/json"}).status_code == 401
    assert site.client.get("/", headers={"Accept": "application/json"}).status_code == 401
    assert site.client.get("/", headers=site.auth("viewer")).status_code == 200  # tokens are not sessions


def test_enabling_a_disabled_user_does_not_bring_old_sessions_back(site):  # noqa: F811
    login(site.client, "analyst")
    for disabled in ("true", "false"):
        r = site.client.post("/users/analyst", data={"disabled": disabled}, headers=site.auth("admin"))
        assert r.status_code == 200
    assert site.client.get("/", headers={"Accept": "application/json"}).status_code == 401
    assert site.client.get("/", headers=site.auth("analyst")).status_code == 200  # its token works again
    assert query(site.workspace, "SELECT count(*) FROM web_sessions") == [(0,)]


def test_failed_logins_count_against_the_name_tried_even_with_a_token_sent(site):  # noqa: F811
    page = site.client.get("/login", headers={"Accept": "text/html"})
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    r = site.client.post(
        "/login",
        data={"username": "analyst", "password": "guess", "login_csrf": token},
        headers=site.auth("viewer"),
    )
    assert r.status_code == 401
    failed = site.client.get("/audit.json?action=login", headers=site.auth("admin")).json()["entries"][0]
    assert (failed["actor"], failed["outcome"], failed["role"]) == ("analyst", "failed", "")
