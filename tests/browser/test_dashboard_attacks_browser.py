"""Attacks on the dashboard that only a browser shows: a name whose bidirectional
override would reorder what a caseworker reads of the rest of the line, another site
framing a page, the back button after logging out, and a form left open in one tab
after logging out in another."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from browser_site import Site
from test_casework_browser import _find_row, _send
from test_dashboard_browser import _click_and_wait, _login, _submit, _text

from tests.support.events import pid, referral_created

pytestmark = pytest.mark.slow

# Where the browser draws the first and the last letter of `word` in `element`'s text.
_DRAWN = """
const [element, word] = arguments;
const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const at = node.data.indexOf(word);
  if (at < 0) continue;
  const x = (i) => { const r = document.createRange(); r.setStart(node, i);
                     r.setEnd(node, i + 1); return r.getBoundingClientRect().left; };
  return [x(at), x(at + word.length - 1)];
}
return null;
"""


def _register(site: Site, attributes: dict[str, str]) -> None:
    r = requests.post(
        f"{site.url}/v1/registrations",
        json={"attributes": attributes},
        headers={"Authorization": f"Bearer {site.tokens['AGENCY-A']}"},
        timeout=60,
    )
    assert r.status_code == 201, r.text


def _log_out(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    _click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.logout button"))


def test_a_bidi_override_in_a_name_does_not_reorder_the_rest(browser: Any, site: Site) -> None:
    """Another caseworker typed a family name opening with RIGHT-TO-LEFT OVERRIDE: the
    name is hers to show, but the given name after it, and the search's caption, still
    read left to right."""
    from selenium.webdriver.common.by import By

    _register(
        site,
        {"given_name": "Zubeida", "family_name": "\u202eQorvane", "date_of_birth": "1987-06-21"},
    )
    _login(browser, site, "AGENCY-A")
    browser.get(f"{site.url}/dashboard/persons")
    browser.find_element(By.ID, "q").send_keys("\u202eQorvane")
    _submit(browser, "find")
    (cell,) = [
        td
        for td in browser.find_elements(By.CSS_SELECTOR, "#people td")
        if "Zubeida" in td.get_attribute("textContent")
    ]
    for word in ("given name", "Zubeida"):
        first, last = browser.execute_script(_DRAWN, cell, word)
        assert first < last, f"{word!r} is drawn right to left"
    caption = browser.find_element(By.CSS_SELECTOR, "#people caption")
    first, last = browser.execute_script(_DRAWN, caption, "shown")
    assert first < last, "the caption after the search terms is drawn right to left"


def test_another_site_cannot_frame_a_page(browser: Any, site: Site) -> None:
    """Clickjacking: the log-in page (and every other) refuses to be framed."""
    from selenium.webdriver.common.by import By

    browser.get(f"data:text/html,<iframe id=f src='{site.url}/dashboard/login'></iframe>")
    browser.switch_to.frame(browser.find_element(By.ID, "f"))
    assert not browser.find_elements(By.ID, "token")
    browser.switch_to.default_content()


def test_the_back_button_after_logging_out_shows_no_names(browser: Any, site: Site) -> None:
    """Registrations (names, birth dates) were on screen; after logging out, going back
    asks the server again (no-store), which asks for a log-in."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "AGENCY-A")
    browser.get(f"{site.url}/dashboard/persons")
    shown = browser.find_element(By.CSS_SELECTOR, "#people tbody").text
    assert "given name" in shown
    _log_out(browser)
    browser.back()
    assert "/dashboard/login" in browser.current_url
    assert "given name" not in _text(browser)
    assert not browser.find_elements(By.ID, "people")


def test_a_form_left_open_in_a_tab_logged_out_in_another(browser: Any, site: Site) -> None:
    """The caseworker logs out in a second tab and then answers in the first: nothing
    is recorded, and after logging in again she is on a page, not a refusal."""
    from selenium.webdriver.common.by import By

    referral = referral_created(pid(), "AGENCY-B")
    _send(site, "AGENCY-A", referral)
    _login(browser, site, "AGENCY-B")
    _find_row(browser, site, referral["referral_id"])
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{site.url}/dashboard/")
    _log_out(browser)
    browser.close()
    browser.switch_to.window(first)

    _submit(browser, f"accept-{referral['referral_id']}")
    assert "/dashboard/login" in browser.current_url
    browser.find_element(By.ID, "token").send_keys(site.tokens["AGENCY-B"])
    _submit(browser, "login")
    page = _text(browser)
    assert "405" not in page
    assert "method_not_allowed" not in page
    assert browser.find_elements(By.CSS_SELECTOR, "form.logout")  # logged in, on a page
    state = requests.get(
        f"{site.url}/v1/referrals/{referral['referral_id']}?purpose=referral",
        headers={"Authorization": f"Bearer {site.tokens['AGENCY-B']}"},
        timeout=60,
    )
    assert state.json()["state"] == "created"
