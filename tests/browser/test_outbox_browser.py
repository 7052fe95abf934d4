"""An agency's caseworker in a real headless Chromium, on her own agency's gateway on a
log node: an event captured while the node was out of reach was refused by the contract
when it got there; from the landing page she finds it among the refused offline events,
with its event ID, type, refusal code, field and reason, and dismisses it. The
screenshot goes to artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from browser_site import Site, screenshot
from test_casework_browser import _png_size
from test_dashboard_browser import _click_and_wait, _login, _text

from tests.integration.remote.conftest import Agency, _stop, _until
from tests.integration.remote.conftest import Site as RemoteSite
from tests.integration.remote.test_outbox import _drained, _outbox, _restart
from tests.support import events as ev

pytestmark = pytest.mark.slow


def _refused_on_sync(remote: RemoteSite, agency: Agency) -> tuple[dict[str, Any], dict[str, Any]]:
    """Captured while the node is down: an acceptance of no referral (refused once it
    reaches the node) and an event that is logged; the outbox's refused item."""
    _stop(remote.node_proc)
    stray = ev.referral_step("accepted", ev.uid())
    fine = ev.independent(0)
    for event in (stray, fine):
        r = agency.call("POST", "/v1/events", json=event)
        assert (r.status_code, r.json()["status"]) == (202, "queued"), r.text
    _restart(remote)
    _until(lambda: _drained(agency), "the outbox synced")
    (item,) = _outbox(agency)["failed"]
    assert item["event_id"] == stray["event_id"]
    return item, fine


def test_a_caseworker_finds_the_refused_offline_event(browser: Any, remote: RemoteSite) -> None:
    from selenium.webdriver.common.by import By

    a = remote.agencies["AGENCY-A"]
    item, fine = _refused_on_sync(remote, a)
    assert item["error"]["code"] == "referral_not_found"
    assert item["error"]["field"] == "referral_id"

    _login(browser, Site(a.url, a.root, {a.org: a.token}, []), a.org)
    browser.get(f"{a.url}/")
    assert "Your screens (AGENCY-A, agency-writer)" in _text(browser)
    _click_and_wait(browser, browser.find_element(By.ID, "outbox-link"))
    assert browser.current_url == f"{a.url}/dashboard/outbox"
    assert "Refused offline events (AGENCY-A)" in _text(browser)

    rows = browser.find_elements(By.CSS_SELECTOR, "table#outbox-failed tbody tr")
    assert [r.get_attribute("id") for r in rows] == [f"outbox-item-{item['seq']}"]
    cells = [td.text for td in rows[0].find_elements(By.TAG_NAME, "td")]
    assert cells == [
        item["event_id"],
        "referral.accepted",
        item["captured_at"],
        "referral_not_found",
        "referral_id",
        item["error"]["message"],
        "Dismiss",
    ]
    assert fine["event_id"] not in browser.page_source  # logged: not a refusal
    path = screenshot(browser, "outbox-refused")
    width, height = _png_size(path)
    assert width >= 1000, (path, width)
    assert height >= 600, (path, height)
    assert path.stat().st_size > 10_000, path  # a rendered page, not a blank one
    print(f"screenshot: {path}")

    # the corrected event recorded, she dismisses the refusal: the page asks first
    _click_and_wait(browser, browser.find_element(By.ID, f"dismiss-{item['seq']}"))
    assert browser.current_url == f"{a.url}/dashboard/outbox/{item['seq']}/dismiss"
    assert f"Dismiss refused event {item['event_id']}?" in _text(browser)
    assert "cannot be brought back" in _text(browser)
    _click_and_wait(browser, browser.find_element(By.ID, "keep"))
    assert _outbox(a)["failed"] == [item]  # kept
    _click_and_wait(browser, browser.find_element(By.ID, f"dismiss-{item['seq']}"))
    _click_and_wait(browser, browser.find_element(By.ID, "confirm-dismiss"))
    assert browser.current_url == f"{a.url}/dashboard/outbox"
    assert f"Refused event {item['event_id']} dismissed." in _text(browser)
    assert browser.find_elements(By.ID, "outbox-empty")
    assert _outbox(a)["failed"] == []

    b = remote.agencies["AGENCY-B"]  # another agency's caseworker sees none of it
    _login(browser, Site(b.url, b.root, {b.org: b.token}, []), b.org)
    browser.get(f"{b.url}/dashboard/outbox")
    assert browser.find_elements(By.ID, "outbox-empty")
    assert item["event_id"] not in browser.page_source
    assert requests.get(f"{b.url}/v1/outbox", timeout=30).status_code == 401  # no token
