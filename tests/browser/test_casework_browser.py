"""A caseworker in a real headless Chromium: the receiving agency logs in, finds a new
referral in its inbox, accepts it, and opens the person's page with what consent lets it
see. Screenshots go to the test's own directory; their paths are printed."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_site import Site, screenshot
from test_dashboard_browser import _click_and_wait, _login, _submit, _text

from tests.support.events import consent_granted, entitlement_granted, pid, referral_created

pytestmark = pytest.mark.slow


def _send(site: Site, org: str, event: dict[str, Any]) -> None:
    r = requests.post(
        f"{site.url}/v1/events",
        json=event,
        headers={"Authorization": f"Bearer {site.tokens[org]}"},
        timeout=60,
    )
    assert r.status_code == 201, r.text


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk: a real image, not an empty file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _find_row(driver: Any, site: Site, referral_id: str) -> Any:
    """The referral's row in the inbox of new referrals, following its pages."""
    from selenium.webdriver.common.by import By

    driver.get(f"{site.url}/dashboard/referrals?state=created")
    while True:
        rows = driver.find_elements(By.ID, f"referral-{referral_id}")
        if rows:
            return rows[0]
        _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, 'a[rel="next"]'))


def test_the_receiver_accepts_a_referral_and_opens_her_page(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    person = pid()
    consent = consent_granted(person, ["AGENCY-B"], purposes=["referral"], categories=["referrals"])
    referral = referral_created(person, "AGENCY-B", consent_id=consent["consent_id"])
    for event in (consent, referral, entitlement_granted(person)):
        _send(site, "AGENCY-A", event)
    referral_id = referral["referral_id"]
    shots: list[Path] = []

    _login(browser, site, "AGENCY-B")
    browser.get(f"{site.url}/")
    assert "Your screens (AGENCY-B, agency-writer)" in _text(browser)
    shots.append(screenshot(browser, "landing", tmp_path))

    row = _find_row(browser, site, referral_id)
    assert "created" in row.text
    assert "AGENCY-A" in row.text
    assert browser.find_element(By.CSS_SELECTOR, "table#inbox caption").text.startswith(
        "Referrals to AGENCY-B in state created"
    )
    shots.append(screenshot(browser, "inbox", tmp_path))

    _submit(browser, f"accept-{referral_id}")
    assert f"Referral {referral_id} is now accepted." in _text(browser)
    shots.append(screenshot(browser, "inbox-accepted", tmp_path))
    browser.get(f"{site.url}/dashboard/referrals?state=accepted")
    assert browser.find_elements(By.ID, f"referral-{referral_id}") or browser.find_elements(
        By.CSS_SELECTOR, 'a[rel="next"]'
    )

    browser.get(f"{site.url}/dashboard/persons/{person}")
    text = _text(browser)
    assert f"Person {person}" in text
    assert "referral.accepted" in text
    assert "referral.created" in text
    assert "1 record held back (no consent)" in text  # AGENCY-A's entitlement
    assert "entitlement.granted" not in text
    shots.append(screenshot(browser, "person", tmp_path))

    for path in shots:
        width, height = _png_size(path)
        assert width >= 1000, (path, width)
        assert height >= 600, (path, height)
        assert path.stat().st_size > 20_000, path  # a rendered page, not a blank one
        print(f"screenshot: {path}")


def test_a_search_leaves_no_name_in_the_address_bar(browser: Any, site: Site) -> None:
    """What the address bar shows, the browser's history keeps, on a device caseworkers
    share: the name she was searched by must not be in it."""
    from selenium.webdriver.common.by import By

    registered = requests.post(
        f"{site.url}/v1/registrations",
        json={"attributes": {"given_name": "Zaynab", "family_name": "Qasim"}},
        headers={"Authorization": f"Bearer {site.tokens['AGENCY-A']}"},
        timeout=60,
    )
    assert registered.status_code == 201, registered.text
    _login(browser, site, "AGENCY-A")
    browser.get(f"{site.url}/dashboard/persons")
    browser.find_element(By.ID, "q").send_keys("Qasim")
    _submit(browser, "find")
    assert "given name: Zaynab" in _text(browser)
    assert browser.current_url == f"{site.url}/dashboard/persons"
