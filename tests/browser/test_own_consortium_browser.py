"""A consortium other than the demo adopts the gateway from its own file: East Basin is
initialised with `ledger-gw init --consortium`, served by `ledger-gw serve`, River Aid
refers a person to Hill Health through the API, Hill Health's caseworker accepts it in
a real headless Chromium, and the directory and the referral chain then verify with
the commands an auditor runs. Screenshots go to artifacts/screenshots/east-basin-*."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_site import Site, screenshot
from test_casework_browser import _png_size
from test_dashboard_browser import _login, _submit, _text

from ledger_gw.demo.consortium import DEMO
from tests.support import events as ev
from tests.support.cli import own_pin, run_cli
from tests.support.east_basin import init_east_basin, issue_token
from tests.support.gunicorn import gunicorn

pytestmark = pytest.mark.slow
TODAY = dt.datetime.now(dt.UTC).date()
#: What would betray the demo behind the pages: its members' ids and display names.
DEMO_NAMES = sorted(
    {org for org, _role in DEMO.members} | {p.display_name for p in DEMO.profiles.values()}
)


def _post(site: Site, org: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(
        f"{site.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {site.tokens[org]}"},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _refer(site: Site) -> tuple[str, str]:
    """River Aid registers a person and, with her consent, refers her to Hill Health."""
    person = _post(
        site,
        "RIVER-AID",
        "/v1/registrations",
        {"attributes": {"given_name": "Wanjiru", "date_of_birth": "1990-03-04"}},
    )["pid"]
    consent = ev.consent_granted(
        person,
        grantees=["HILL-HEALTH"],
        purposes=["referral"],
        categories=["referrals"],
        expires=(TODAY + dt.timedelta(days=90)).isoformat(),
    )
    referral = ev.referral_created(
        person, to_org="HILL-HEALTH", sector="health", consent_id=consent["consent_id"]
    )
    for event in (consent, referral):
        _post(site, "RIVER-AID", "/v1/events", event)
    return person, str(referral["referral_id"])


def _shot(browser: Any, name: str) -> Path:
    """A screenshot of a page that names no demo organisation."""
    text = _text(browser)
    assert not [name for name in DEMO_NAMES if name in text], text
    return screenshot(browser, f"east-basin-{name}")


def test_a_consortium_of_its_own_accepts_a_referral_in_the_browser(
    browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    root = init_east_basin(tmp_path)
    tokens = {
        "RIVER-AID": issue_token(root, "RIVER-AID", "agency-writer"),
        "HILL-HEALTH": issue_token(root, "HILL-HEALTH", "agency-writer"),
    }
    shots: list[Path] = []
    with gunicorn(root, None, workers=1) as url:
        site = Site(url, root, tokens, [])
        person, referral_id = _refer(site)

        _login(browser, site, "HILL-HEALTH")
        browser.get(f"{url}/")
        assert "Your screens (HILL-HEALTH, agency-writer)" in _text(browser)
        shots.append(_shot(browser, "landing"))

        browser.get(f"{url}/dashboard/referrals?state=created")
        row = browser.find_element(By.ID, f"referral-{referral_id}")
        assert "created" in row.text
        assert "RIVER-AID" in row.text
        caption = browser.find_element(By.CSS_SELECTOR, "table#inbox caption").text
        assert caption.startswith("Referrals to HILL-HEALTH in state created")
        shots.append(_shot(browser, "inbox"))

        _submit(browser, f"accept-{referral_id}")
        assert f"Referral {referral_id} is now accepted." in _text(browser)
        shots.append(_shot(browser, "accepted"))
        browser.get(f"{url}/dashboard/referrals?state=accepted")
        assert "RIVER-AID" in browser.find_element(By.ID, f"referral-{referral_id}").text

        browser.get(f"{url}/dashboard/persons/{person}")
        text = _text(browser)
        assert f"Person {person}" in text
        assert "Her events you may see, oldest first (3 shown)" in text
        for event in ("consent.granted", "referral.created", "referral.accepted"):
            assert event in text
        assert "to org: HILL-HEALTH; sector: health" in text
        shots.append(_shot(browser, "person"))

    for path in shots:
        width, height = _png_size(path)
        assert width >= 1000, (path, width)
        assert height >= 600, (path, height)
        assert path.stat().st_size > 20_000, path  # a rendered page, not a blank one
        print(f"screenshot: {path}")

    verified = run_cli("verify", "--dir", str(root), *own_pin(root))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ledger verifies: 3 entries" in " ".join(verified.stdout.split())

    # The auditor pins the consortium it was given at joining, apart from any bundle.
    pinned = tmp_path / "lake-audit" / "east-basin.json"
    pinned.parent.mkdir()
    shutil.copy(root / "consortium.json", pinned)
    bundle = tmp_path / "lake-audit" / "referral.json"
    made = run_cli(
        "audit", "bundle", "--dir", str(root), "--subject", referral_id, "--out", str(bundle)
    )
    assert made.returncode == 0, made.stdout + made.stderr
    checked = run_cli("audit", "verify", str(bundle), "--consortium", str(pinned))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is True
    assert [(e["org"], e["signature_ok"]) for e in report["events"]] == [
        ("RIVER-AID", True),
        ("HILL-HEALTH", True),
    ]
