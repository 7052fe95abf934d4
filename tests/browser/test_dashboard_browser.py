"""The dashboard in a real headless Chromium: log in with tokens, read a referral chain's
verdicts, drop a good and a tampered bundle, read the donor report's charts and its
suppressed cells. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_site import Site, screenshot

from tests.support.months import this_month

pytestmark = pytest.mark.slow


def _replaced(element: Any) -> Any:
    """A wait condition: `element`'s page has been replaced by the next one.

    Selenium's `staleness_of` expects StaleElementReferenceException only; Chrome may
    instead answer, for a node of a document it is tearing down, "Node with given id
    does not belong to the document". Either way the old page is gone.
    """
    from selenium.common.exceptions import WebDriverException

    def check(_driver: Any) -> bool:
        try:
            element.is_enabled()
        except WebDriverException:
            return True
        return False

    return check


def _click_and_wait(driver: Any, element: Any) -> None:
    """Click `element` and wait until the next page has replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(_replaced(old))
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _submit(driver: Any, button_id: str) -> None:
    from selenium.webdriver.common.by import By

    _click_and_wait(driver, driver.find_element(By.ID, button_id))


def _login(driver: Any, site: Site, org: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{site.url}/dashboard/")
    assert "/dashboard/login" in driver.current_url
    driver.find_element(By.ID, "token").send_keys(site.tokens[org])
    _submit(driver, "login")
    assert driver.current_url.rstrip("/").endswith("/dashboard")


def _text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def test_login_is_refused_with_a_bad_token(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site.url}/dashboard/login")
    browser.find_element(By.ID, "token").send_keys("lgw.AUDITOR-X.0123456789abcdef." + "x" * 43)
    _submit(browser, "login")
    assert "That token is not valid" in _text(browser)
    screenshot(browser, "login-refused")


def test_auditor_sees_verdicts_and_catches_a_tampered_bundle(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, site, "AUDITOR-X")
    [cookie] = browser.get_cookies()
    assert cookie["name"].startswith("__Host-ledger_gw_")  # no sibling host can set it
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"]
    screenshot(browser, "auditor-home")

    browser.get(f"{site.url}/dashboard/audit/chain?referral_id={site.referrals[0]}")
    assert "Every step of this chain verifies" in _text(browser)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.steps tbody tr")
    # created, handed over, accepted, completed; onward created, accepted, completed
    assert len(rows) == 7
    assert all(r.get_attribute("class") == "pass" for r in rows)
    assert "✓" in rows[0].text
    assert "Fatima" not in browser.page_source
    screenshot(browser, "auditor-chain")

    bundle = requests.get(
        f"{site.url}/v1/audit/bundles",
        params={"subject": site.referrals[0]},
        headers={"Authorization": f"Bearer {site.tokens['AUDITOR-X']}"},
        timeout=30,
    ).json()
    good, bad = tmp_path / "good.json", tmp_path / "tampered.json"
    good.write_text(json.dumps(bundle))
    tampered = copy.deepcopy(bundle)
    del tampered["evidence"]["entries"][2]  # drop the acceptance: the chain skips a step
    bad.write_text(json.dumps(tampered))

    browser.get(f"{site.url}/dashboard/audit/verify")
    browser.find_element(By.ID, "bundle").send_keys(str(good))
    _submit(browser, "verify")
    assert "The bundle verifies" in _text(browser)

    browser.find_element(By.ID, "bundle").send_keys(str(bad))
    _submit(browser, "verify")
    text = _text(browser)
    assert "does not verify" in text
    assert "missing_event" in text
    assert browser.find_elements(By.CSS_SELECTOR, "table.steps tr.fail")
    screenshot(browser, "auditor-verify-tampered")


def test_donor_report_has_charts_and_suppressed_cells(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, site, "DONOR-Y")
    assert "Referral chains" not in _text(browser)  # not an auditor
    start, end = this_month()  # closed on the ledger by the site's last record
    month = f"{site.url}/dashboard/reports?from={start}&to={end}"
    browser.get(month)
    assert len(browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")) == 3
    assert browser.find_elements(By.CSS_SELECTOR, "figure.chart svg rect")
    for org in ("AGENCY-C", "AGENCY-B", "AGENCY-A"):  # an organisation's smaller figures
        browser.get(f"{month}&org={org}")
        if browser.find_elements(By.CSS_SELECTOR, "g.bar.suppressed"):
            break
    assert browser.find_elements(By.CSS_SELECTOR, "g.bar.suppressed")
    assert browser.find_elements(By.CSS_SELECTOR, "td.suppressed")
    assert "suppressed (< 5)" in _text(browser)
    links = {a.get_attribute("id") for a in browser.find_elements(By.CSS_SELECTOR, ".downloads a")}
    assert links == {"dl-json", "dl-csv", "dl-hxl", "dl-iati"}
    screenshot(browser, "donor-report")

    browser.get(f"{site.url}/dashboard/audit/chain?referral_id={site.referrals[0]}")
    assert "403" in _text(browser)


def test_agency_sees_its_own_report_only(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, site, "AGENCY-A")
    browser.get(f"{site.url}/dashboard/reports")
    assert "Accountability report: AGENCY-A" in _text(browser)
    assert not browser.find_elements(By.ID, "org")
    screenshot(browser, "agency-report")
    browser.get(f"{site.url}/dashboard/reports?org=AGENCY-B")
    assert "may read only its own report" in _text(browser)
    _click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, ".logout button"))
    assert "/dashboard/login" in browser.current_url
