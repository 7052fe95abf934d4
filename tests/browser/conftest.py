"""A real gunicorn on a seeded ledger (Fatima and the synthetic population), a log node
with two agencies' own gateways on it (the remote backend), and a headless Debian
Chromium driven by Selenium through /usr/bin/chromedriver (never a downloaded browser).
Without Chromium, its driver or Selenium the tests skip and say why; `make test`
installs the first two when it may (root, apt)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_site import Site

from ledger_gw.bootstrap import open_gateway
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.demo.seed import seed_fatima
from ledger_gw.demo.synthetic import seed_synthetic
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig, create_session_key
from ledger_gw.workspace import Workspace
from tests.integration.remote.conftest import Site as RemoteSite
from tests.integration.remote.conftest import remote_site
from tests.support.gunicorn import gunicorn
from tests.support.months import month_closed

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TOKENS = (
    ("AUDITOR-X", "auditor"),
    ("DONOR-Y", "donor"),
    ("AGENCY-A", "agency-writer"),
    ("AGENCY-B", "agency-writer"),
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1800",
)


def _missing() -> str | None:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return "Debian's chromium and chromium-driver are not installed (make browser)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the test extra)"
    return None


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("browser") / "ws"
    Workspace.create(root, DEMO)
    gw = open_gateway(GatewayConfig(directory=root))
    try:
        create_session_key(gw.config.session_key_path)
        journey = seed_fatima(gw)
        seed_synthetic(gw)
        with month_closed(OrgClient(gw.ledger, gw.signers["AGENCY-A"]).submit):
            pass  # donors read this month's figures once it is closed
        tokens = {
            org: issue_token(gw.store(org), gw.org_role(org), role)[1] for org, role in TOKENS
        }
    finally:
        gw.close()
    with gunicorn(root, tmp_path_factory.mktemp("metrics")) as url:
        yield Site(url, root, tokens, list(journey["referrals"]))


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteSite]:
    """A log node and two agencies' gateways, each on its own machine's directory and
    keys, as the remote backend's tests run them."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    with remote_site(tmp_path_factory.mktemp("remote")) as made:
        yield made


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
