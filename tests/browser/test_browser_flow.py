"""The web UI in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Flow: log in, enroll a person, search a photo, confirm the candidate, open the
case report. Screenshots of each step go to the test's temporary folder (and to
$IMINT_SCREENSHOTS when set, to look at them).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_support import PASSWORD, astronaut_jpeg, hopper_jpeg, make_users

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="chromium and chromium-driver are not installed (make install installs them)",
)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The real app under uvicorn on a free loopback port, in a thread."""
    import uvicorn

    from imint.api.app import create_app

    ws_path = tmp_path / "ws"
    make_users(ws_path)
    app = create_app(ws_path)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", ws_path
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture
def browser(tmp_path: Path):  # noqa: ANN201
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class Shots:
    def __init__(self, driver, folder: Path) -> None:  # noqa: ANN001
        self.driver, self.folder, self.n = driver, folder, 0
        folder.mkdir(parents=True, exist_ok=True)
        self.extra = Path(os.environ["IMINT_SCREENSHOTS"]) if os.environ.get("IMINT_SCREENSHOTS") else None

    def take(self, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path)), path
        if self.extra:
            self.extra.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.extra / path.name)
        return path


def _wait(driver, condition, timeout: float = 60):  # noqa: ANN001, ANN202
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def test_log_in_enroll_search_confirm_and_open_report(server, browser, tmp_path):  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    base, _ws = server
    shots = Shots(browser, tmp_path / "screenshots")
    photo = tmp_path / "collins.jpg"
    photo.write_bytes(astronaut_jpeg())
    mirrored = tmp_path / "collins-mirrored.jpg"
    mirrored.write_bytes(astronaut_jpeg(flip=True))

    # Not logged in: the page says how to log in.
    browser.get(base + "/persons")
    assert "Log in" in browser.page_source
    browser.get(base + "/login")
    browser.find_element(By.ID, "username").send_keys("analyst")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    shots.take("login")
    browser.find_element(By.ID, "login").click()
    _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".cards")))
    assert "analyst" in browser.find_element(By.CSS_SELECTOR, ".who").text
    shots.take("dashboard")

    # Enroll.
    browser.get(base + "/persons")
    browser.find_element(By.ID, "enroll-name").send_keys("Eileen Collins")
    browser.find_element(By.ID, "enroll-notes").send_keys("<b>STS-93</b> commander")
    browser.find_element(By.ID, "enroll-photos").send_keys(str(photo))
    browser.find_element(By.ID, "enroll-submit").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "person-name"), "Eileen Collins"))
    assert "<b>STS-93</b> commander" in browser.find_element(By.TAG_NAME, "main").text  # shown, not run
    _wait(
        browser,
        lambda d: d.execute_script(
            "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        ),
    )
    shots.take("enrolled")

    # Search a photo.
    browser.get(base + "/search")
    browser.find_element(By.ID, "search-files").send_keys(str(mirrored))
    browser.find_element(By.ID, "search-submit").click()
    _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "#faces .face")))
    confirm = browser.find_element(By.CSS_SELECTOR, "button[id^=confirm-]")
    row_id = confirm.get_attribute("id").replace("confirm-", "match-")
    assert "Eileen Collins" in browser.find_element(By.ID, row_id).text
    _wait(
        browser,
        lambda d: d.execute_script(
            "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        ),
    )
    shots.take("search-result")

    # Confirm the candidate (htmx swaps the row in place).
    confirm.click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, row_id), "confirmed"))
    assert "analyst" in browser.find_element(By.ID, row_id).text
    shots.take("confirmed")

    browser.get(base + "/review?status=confirmed")
    assert "Eileen Collins" in browser.find_element(By.TAG_NAME, "main").text
    shots.take("review-confirmed")

    # Two photos at once become a background job; its page follows the progress (htmx polling).
    hopper = tmp_path / "hopper.jpg"
    hopper.write_bytes(hopper_jpeg())
    browser.get(base + "/search")
    browser.find_element(By.ID, "search-files").send_keys(f"{photo}\n{hopper}")
    browser.find_element(By.ID, "search-submit").click()
    _wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "#job-progress b.status-done")))
    assert "collins.jpg" in browser.find_element(By.ID, "job-progress").text
    shots.take("search-job")

    # Open a case report.
    browser.get(base + "/cases")
    browser.find_element(By.ID, "case-name").send_keys("sts-93")
    browser.find_element(By.ID, "case-title").send_keys("Who commanded STS-93?")
    browser.find_element(By.ID, "case-create").click()
    _wait(browser, ec.text_to_be_present_in_element((By.ID, "case-heading"), "Who commanded STS-93?"))
    shots.take("case")
    browser.find_element(By.ID, "open-report").click()
    _wait(browser, lambda d: "Who commanded STS-93?" in d.page_source and "/report" in d.current_url)
    shots.take("case-report")

    # The page ran without script errors or Content-Security-Policy violations.
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert [m for m in severe if "/persons - " not in m or "401" not in m] == [], severe


def _analyst_headers(ws_path: Path) -> dict[str, str]:
    """An API token of the analyst, as request headers (set-up goes through the API, not the page)."""
    from imint.api import security
    from imint.workspace import Workspace

    with Workspace(ws_path) as ws, ws.session() as s:
        _row, token = security.create_token(s, security.get_user(s, "analyst"), "browser test")
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def _add_scene_now(base: str, headers: dict[str, str], site_id: int, scene: Path) -> None:
    """Store a scene without running a detector (answered at once: 201, no job)."""
    import httpx

    r = httpx.post(
        f"{base}/sites/{site_id}/scenes",
        files={"scene": (scene.name, scene.read_bytes())},
        data={"detector": "none"},
        headers=headers,
        timeout=120,
    )
    assert r.status_code == 201, r.text


def _log_in_as_viewer(browser, base: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    browser.get(base + "/login")
    browser.find_element(By.ID, "username").send_keys("viewer")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    # Wait for the login to land before navigating: a navigation started while the login POST is
    # in flight can be overtaken by its redirect to the overview page.
    _wait(browser, lambda d: "viewer" in "".join(e.text for e in d.find_elements(By.CSS_SELECTOR, ".who")))


def test_site_map_shows_detections_per_date(server, browser, tmp_path):  # noqa: ANN001
    import httpx
    from selenium.webdriver.common.by import By

    from imint.sites import synthetic

    base, ws_path = server
    headers = _analyst_headers(ws_path)
    site_id = httpx.post(
        base + "/sites",
        data={"name": "Golden Horn", "lon": "131.90", "lat": "43.08", "radius_m": "4000"},
        headers=headers,
        timeout=60,  # the first request of a busy CI machine: 4 s on SQLite, 6.5 s on PostgreSQL measured
    ).json()["id"]
    for name, date, seed in (("a.tif", "2026-03-01", 1), ("b.tif", "2026-03-08", 2)):
        synthetic.make_sar_scene(
            tmp_path / name, width=512, height=512, n_ships=5, seed=seed, land_seed=1, date=date
        )
        r = httpx.post(
            f"{base}/sites/{site_id}/scenes",
            files={"scene": (name, (tmp_path / name).read_bytes())},
            headers=headers,
            timeout=120,
        )
        assert r.status_code == 202, r.text
    deadline = time.monotonic() + 300
    while httpx.get(base + "/jobs.json", headers=headers, timeout=60).json()["jobs"][0]["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.5)

    shots = Shots(browser, tmp_path / "screenshots")
    _log_in_as_viewer(browser, base)
    browser.get(f"{base}/sites/{site_id}")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#map path.leaflet-interactive"))
    assert browser.find_element(By.ID, "date-label").text == "2026-03-08"
    latest = int(browser.find_element(By.ID, "date-count").text)
    assert latest > 0
    shots.take("site-latest")
    slider = browser.find_element(By.ID, "date-slider")
    browser.execute_script("arguments[0].value = 0; arguments[0].dispatchEvent(new Event('input'));", slider)
    assert browser.find_element(By.ID, "date-label").text == "2026-03-01"
    shots.take("site-first-date")
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe


def test_site_map_lays_the_scene_under_the_detections(server, browser, tmp_path):  # noqa: ANN001
    import io

    import httpx
    import numpy as np
    from PIL import Image
    from selenium.webdriver.common.by import By

    from imint.sites import synthetic

    base, ws_path = server
    headers = _analyst_headers(ws_path)
    site_id = httpx.post(
        base + "/sites",
        data={"name": "Golden Horn", "lon": "131.90", "lat": "43.08", "radius_m": "3000"},
        headers=headers,
        timeout=60,  # the first request of a busy CI machine: 4 s on SQLite, 6.5 s on PostgreSQL measured
    ).json()["id"]
    synthetic.make_sar_scene(tmp_path / "a.tif", width=512, height=512, n_ships=5, seed=1, date="2026-03-01")
    _add_scene_now(base, headers, site_id, tmp_path / "a.tif")

    shots = Shots(browser, tmp_path / "screenshots")
    _log_in_as_viewer(browser, base)
    browser.get(f"{base}/sites/{site_id}")
    overlay = _wait(
        browser,
        lambda d: [
            i
            for i in d.find_elements(By.CSS_SELECTOR, "#map img.scene-overlay")
            if d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)
        ],
    )[0]
    src = overlay.get_attribute("src")
    assert src and src.endswith(".png") and "/scenes/" in src
    # The offline coastline (land-mask edges around Vladivostok) is drawn once its GeoJSON has come.
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#map path[stroke='#2b8a3e']"), timeout=120)
    shots.take("site-scene-overlay")
    pixels = np.asarray(Image.open(io.BytesIO(overlay.screenshot_as_png)).convert("L"), np.float32)
    assert pixels.size > 10_000 and pixels.std() > 10  # the scene, not a blank box
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe


def test_site_map_draws_the_country_border_at_a_border_port(server, browser, tmp_path):  # noqa: ANN001
    """Narva (Estonia) faces Ivangorod (Russia) across the river: the offline border is drawn between them."""
    import httpx
    from selenium.webdriver.common.by import By

    from imint.sites import synthetic

    base, ws_path = server
    headers = _analyst_headers(ws_path)
    site_id = httpx.post(
        base + "/sites",
        data={"name": "Narva", "lon": "28.20", "lat": "59.377", "radius_m": "3000"},
        headers=headers,
        timeout=60,
    ).json()["id"]
    synthetic.make_sar_scene(
        tmp_path / "narva.tif",
        width=512,
        height=512,
        n_ships=3,
        seed=2,
        center=(28.20, 59.377),
        date="2026-03-01",
    )
    _add_scene_now(base, headers, site_id, tmp_path / "narva.tif")
    site = httpx.get(f"{base}/sites/{site_id}", headers=headers, timeout=60).json()
    borders = httpx.get(base + site["map"]["borders_url"], headers=headers, timeout=60).json()
    between = {f["properties"]["between"] for f in borders["features"]}
    assert any("Estonia" in b and "Russia" in b for b in between), between

    shots = Shots(browser, tmp_path / "screenshots")
    _log_in_as_viewer(browser, base)
    browser.get(f"{base}/sites/{site_id}")
    lines = _wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#map path.country-border"), timeout=120
    )
    assert lines[0].get_attribute("stroke-dasharray") == "6 4"
    box = lines[0].rect
    assert box["width"] > 20 or box["height"] > 20, box  # drawn across the map, not a dot off-screen
    shots.take("site-border")
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
