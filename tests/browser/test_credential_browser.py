"""The dashboard's credential check in a real headless Chromium: an auditor uploads the
photo of a person's card and reads what it shows, then the photo of an altered card and
reads why it fails. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_site import Site, screenshot
from PIL import Image
from test_dashboard_browser import _login, _submit, _text

from ledger_gw.consortium import Consortium
from ledger_gw.credentials import Credential
from ledger_gw.credentials.card import qr_code
from ledger_gw.services import credentials
from tests.support import credentials as forge
from tests.support import events as ev

pytestmark = pytest.mark.slow


def _issued(site: Site) -> str:
    headers = {"Authorization": f"Bearer {site.tokens['AGENCY-A']}"}
    grant = ev.entitlement_granted(ev.pid())
    posted = requests.post(f"{site.url}/v1/events", json=grant, headers=headers, timeout=30)
    assert posted.status_code == 201, posted.text
    body = {"event_id": grant["event_id"], "purpose": "service_continuity",
            "disclose": ["programme", "valid_until"]}  # fmt: skip
    deadline = time.monotonic() + 30
    while True:  # 409 until the appender has put the grant under a checkpoint
        r = requests.post(f"{site.url}/v1/credentials", json=body, headers=headers, timeout=30)
        if r.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 201, r.text
    return str(r.json()["credential"])


def _photo(text: str, pinned: Consortium, path: Path) -> Path:
    png = credentials.render_card(text.encode(), pinned, "png")
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, format="JPEG", quality=80)
    path.write_bytes(out.getvalue())
    return path


def test_a_member_checks_a_card_photo(browser: Any, site: Site, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    pinned = Consortium.load(site.directory / "consortium.json")
    text = _issued(site)
    good = _photo(text, pinned, tmp_path / "card.jpg")
    _login(browser, site, "AUDITOR-X")
    browser.find_element(By.LINK_TEXT, "Check a credential").click()
    browser.find_element(By.ID, "card").send_keys(str(good))
    _submit(browser, "check")
    page = _text(browser)
    assert "The credential verifies: issued by AGENCY-A, active" in page
    assert "MPCA-2026" in page
    assert "cash" not in page  # she did not show the assistance type
    screenshot(browser, "credential-verified")

    jwt, disclosures, proof = forge.split(text)
    altered = forge.join(jwt, [forge.disclosure("programme", "OTHER-2026"), *disclosures[1:]],
                         proof)  # fmt: skip
    # a card is only printed for a credential that verifies: the forger prints her own QR
    bad = tmp_path / "altered.png"
    qr_code(Credential.parse(altered)).save(str(bad), kind="png", scale=3, border=4)
    browser.find_element(By.ID, "card").send_keys(str(bad))
    _submit(browser, "check")
    assert browser.find_element(By.ID, "reason").text == "credential_altered"
    screenshot(browser, "credential-altered")
