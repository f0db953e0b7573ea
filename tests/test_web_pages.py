"""Every page renders as HTML for a browser and has a JSON twin (`.json` or Accept: application/json)."""

from __future__ import annotations

import re

from tests.api_support import login, site  # noqa: F401 - pytest fixture

HTML = {"Accept": "text/html"}


def _get_pages(app) -> list[str]:  # noqa: ANN001
    return [
        path
        for path, ops in app.openapi()["paths"].items()
        if "get" in ops and "{" not in path and ops["get"].get("x-required-role") != "public"
    ]


def _fill(site) -> dict[str, str]:  # noqa: ANN001, F811
    """Some records so that pages with an id have something to show."""
    wl = site.client.post("/watchlists", data={"name": "Harbour"}, headers=site.auth("analyst")).json()
    job = site.app.state.jobs.submit("face-search", {"evidence": []}, user="analyst", total=0)
    site.app.state.jobs.wait_idle(30)
    return {"watchlist_id": str(wl["id"]), "job_id": str(job)}


def test_every_page_is_html_for_a_logged_in_browser_and_json_for_scripts(site):  # noqa: F811
    ids = _fill(site)
    login(site.client, "admin")
    pages = _get_pages(site.app) + [f"/watchlists/{ids['watchlist_id']}", f"/jobs/{ids['job_id']}"]
    assert len(pages) >= 12
    for page in pages:
        r = site.client.get(page, headers=HTML)
        assert r.status_code == 200, (page, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html"), page
        assert "<html" in r.text and "/static/vendor/htmx.min.js" in r.text, page
        assert re.search(r'hx-headers=\'\{"X-CSRF-Token": "[\w-]+"\}\'', r.text), page
        twin = site.client.get(page + ".json", headers=HTML)  # the suffix wins over Accept
        assert twin.status_code == 200 and twin.headers["content-type"] == "application/json", page
        accept = site.client.get(page, headers={"Accept": "application/json"})
        assert accept.headers["content-type"] == "application/json", page
        assert set(accept.json()) == set(twin.json()), page


def test_login_page_and_errors_are_pages_too(site):  # noqa: F811
    r = site.client.get("/login", headers=HTML)
    assert r.status_code == 200 and 'name="password"' in r.text
    login(site.client, "viewer")
    missing = site.client.get("/persons/424242", headers=HTML)
    assert missing.status_code == 404 and "person 424242" in missing.text and "<html" in missing.text
    forbidden = site.client.get("/audit", headers=HTML)
    assert forbidden.status_code == 403 and "admin role" in forbidden.text


def test_vendored_assets_are_served_locally(site):  # noqa: F811
    for asset in (
        "/static/vendor/htmx.min.js",
        "/static/vendor/leaflet.js",
        "/static/vendor/leaflet.css",
        "/static/app.js",
    ):
        r = site.client.get(asset)
        assert r.status_code == 200 and len(r.content) > 1000, asset
    page = site.client.get("/", headers={"Authorization": site.auth("viewer")["Authorization"], **HTML}).text
    assert "https://" not in page and "http://" not in page  # nothing from a CDN


def test_logout_ends_the_session(site):  # noqa: F811
    csrf = login(site.client, "viewer")
    r = site.client.post("/logout", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert site.client.get("/", headers={"Accept": "application/json"}).status_code == 401
