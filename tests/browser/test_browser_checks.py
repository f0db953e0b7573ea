"""The checks in a real headless Chromium: a photo's EXIF GPS point on the case map (marker, popup with
the UTC and local capture time, link to the evidence, the contradiction line), and the shadow marking
on the evidence page (three clicks, the sun window, the answer, the stored marking)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imint import cases
from imint.checks.shadow import shadow_markings
from imint.checks.sun import sun_position
from imint.workspace import Workspace
from tests.api_support import PASSWORD
from tests.browser.test_browser_flow import Shots, _wait, browser, pytestmark, server  # noqa: F401

KYIV = (50.45, 30.52333)


def kyiv_photo(path: Path, side: int = 512) -> Path:
    """The astronaut with EXIF GPS in Kyiv and a local capture time of 14:30 (11:30 UTC in July)."""
    from skimage import data

    img = Image.fromarray(np.ascontiguousarray(data.astronaut()[:side, :side]))
    exif = img.getexif()
    exif[0x010F] = "TestMaker"
    exif[0x8769] = {0x9003: "2024:07:10 14:30:00"}
    exif[0x8825] = {1: "N", 2: (50.0, 27.0, 0.0), 3: "E", 4: (30.0, 31.0, 24.0)}
    img.save(path, format="JPEG", quality=90, exif=exif.tobytes())
    return path


def log_in(driver, base: str, name: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver, lambda d: name in "".join(e.text for e in d.find_elements(By.CSS_SELECTOR, ".who")))


def no_script_errors(driver) -> None:  # noqa: ANN001
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe


def test_case_map_shows_the_photo_at_its_gps_point_with_utc_time(server, browser, tmp_path):  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By

    base, ws_path = server
    with Workspace(ws_path, user="analyst") as ws:
        cases.create_case(ws, "kyiv", title="Kyiv in July")
        ev = cases.add_evidence(ws, "kyiv", [kyiv_photo(tmp_path / "kyiv.jpg", 256)], source="test")[0]
        near = cases.add_claim(ws, "kyiv", "Seen in Kyiv", source="A", dates="2024-07", places=["Kyiv"])
        far = cases.add_claim(ws, "kyiv", "Seen in Lviv", source="B", dates="2024-07", places=["Lviv"])
        for claim in (near, far):
            cases.link_claim(ws, claim.id, "supports", evidence=ev.sha256)
        case_id = cases.get_case(ws, "kyiv").id
    shots = Shots(browser, tmp_path / "screenshots")
    log_in(browser, base, "viewer")
    browser.get(f"{base}/cases/{case_id}")
    marker = _wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, '#case-map img.leaflet-marker-icon[title="kyiv.jpg"]'),
    )[0]
    # Two claimed places (circles) and one dashed line from the photo to Lviv, 468 km away.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#case-map path.claimed-place")) == 2
    dashed = [
        p for p in browser.find_elements(By.CSS_SELECTOR, "#case-map path.leaflet-interactive")
        if p.get_attribute("stroke-dasharray")
    ]  # fmt: skip
    assert len(dashed) == 1
    shots.take("case-map")
    marker.click()
    popup = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content .map-popup"))[0]
    assert popup.find_element(By.CSS_SELECTOR, ".capture-utc").text == "captured (UTC): 2024-07-10T11:30:00Z"
    assert (
        popup.find_element(By.CSS_SELECTOR, ".capture-local").text
        == "local: 2024-07-10T14:30:00 (Europe/Kyiv)"
    )
    assert f"claim #{far.id}" in popup.text and f"claim #{near.id}" not in popup.text
    link = popup.find_element(By.CSS_SELECTOR, "a.evidence-link")
    assert link.get_attribute("href") == f"{base}/evidence/{ev.sha256}"
    _wait(
        browser,
        lambda d: d.execute_script(
            "const i = document.querySelector('.map-popup img'); return i && i.complete && i.naturalWidth > 0"
        ),
    )
    shots.take("case-map-popup")
    link.click()
    _wait(browser, lambda d: d.current_url.endswith(f"/evidence/{ev.sha256}"))
    no_script_errors(browser)


def click_at(driver, img, x: float, y: float) -> None:  # noqa: ANN001
    """Click the picture at pixel (x, y) of its natural grid, wherever the page scaled it."""
    from selenium.webdriver.common.action_chains import ActionChains

    natural = driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
    rect = img.rect
    dx = x * rect["width"] / natural[0] - rect["width"] / 2
    dy = y * rect["height"] / natural[1] - rect["height"] / 2
    ActionChains(driver).move_to_element_with_offset(img, int(round(dx)), int(round(dy))).click().perform()


def test_shadow_marking_on_the_evidence_page(server, browser, tmp_path):  # noqa: ANN001, F811
    from selenium.webdriver.common.by import By

    base, ws_path = server
    with Workspace(ws_path, user="analyst") as ws:
        sha = ws.ingest(kyiv_photo(tmp_path / "kyiv.jpg")).sha256
    import datetime as dt

    _, elevation = sun_position(dt.datetime(2024, 7, 10, 11, 30, tzinfo=dt.UTC), *KYIV)
    ratio = 1 / math.tan(math.radians(elevation))  # the shadow a pole casts at the EXIF time
    base_pt, top_pt = (100.0, 450.0), (100.0, 150.0)
    tip_pt = (100.0 + 300 * ratio, 450.0)
    shots = Shots(browser, tmp_path / "screenshots")
    log_in(browser, base, "analyst")
    browser.get(f"{base}/evidence/{sha}")
    img = browser.find_element(By.ID, "shadow-photo")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    _wait(
        browser,
        lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img),
    )
    assert browser.find_element(By.ID, "shadow-claimed").get_attribute("value") == "2024-07-10T11:30:00Z"
    submit = browser.find_element(By.ID, "shadow-submit")
    assert not submit.is_enabled()
    for point in (base_pt, top_pt, tip_pt):
        click_at(browser, img, *point)
    assert browser.find_element(By.ID, "shadow-step").text.startswith("Marked.")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#shadow-overlay circle.shadow-point")) == 3
    assert submit.is_enabled()
    shots.take("shadow-marked")
    submit.click()
    answer = _wait(browser, lambda d: d.find_elements(By.ID, "shadow-answer"))[0]
    assert "inside" in answer.text and "consistent" in answer.get_attribute("class").split()
    assert "UTC" in browser.find_element(By.ID, "shadow-window").text
    shots.take("shadow-answer")
    with Workspace(ws_path) as ws:
        (m,) = shadow_markings(ws, sha)
    assert m.created_by == "analyst" and m.time_basis == "EXIF capture time" and m.place_basis == "EXIF GPS"
    assert m.result["ratio"] == pytest.approx(ratio, rel=0.03)  # clicks land within a pixel or two
    assert browser.find_elements(By.ID, f"shadow-marking-{m.id}")
    # Again with a claimed time when the sun was far lower: the same shadow does not fit.
    browser.find_element(By.ID, "shadow-reset").click()
    for point in (base_pt, top_pt, tip_pt):
        click_at(browser, img, *point)
    claimed = browser.find_element(By.ID, "shadow-claimed")
    claimed.clear()
    claimed.send_keys("2024-07-10T05:00:00Z")
    submit.click()
    _wait(browser, lambda d: "outside" in d.find_element(By.ID, "shadow-result").text)
    assert "inconsistent" in browser.find_element(By.ID, "shadow-answer").get_attribute("class").split()
    # Reloaded, the page lists both markings from the server.
    browser.get(f"{base}/evidence/{sha}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#shadow-markings tbody tr[id^=shadow-marking-]")
    assert len(rows) == 2 and "analyst" in rows[0].text
    no_script_errors(browser)
