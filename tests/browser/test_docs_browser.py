"""The API's documentation page in a real headless Chromium, under its own content
security policy: Swagger UI starts, reads this gateway's API description and lists its
operations, and the browser reports no violation of the policy (an inline script or
style, or anything loaded from elsewhere, would be one)."""

from __future__ import annotations

from typing import Any

import pytest
from browser_site import Site, screenshot

pytestmark = pytest.mark.slow

#: Installed before the page's own scripts: what the browser blocked, and why.
_LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.effectiveDirective + " " + e.blockedURI);
});
"""


def test_the_docs_page_lists_the_api_under_its_policy(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _LISTEN})
    browser.get(f"{site.url}/docs")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    )
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/v1/events" in {p.replace("\u200b", "") for p in paths}
    assert browser.find_element(By.CSS_SELECTOR, ".info .title").text.startswith(
        "Referral ledger agency gateway"
    )
    assert not browser.find_elements(By.CSS_SELECTOR, ".validator, img[src*='validator']")
    screenshot(browser, "api-docs")
    assert browser.execute_script("return window.__violations") == []
