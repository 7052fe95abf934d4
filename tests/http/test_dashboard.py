"""The dashboard through Flask's client: log-in, cookie flags, CSRF, roles, escaping,
security headers, revocation. The browser tests drive the same pages in Chromium."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import time_machine
from api_helpers import CSRF, Tokens, dashboard_csrf, dashboard_login
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from api import create_app
from ledger_gw.demo.seed import seed_fatima
from ledger_gw.errors import InternalError, UnavailableError
from ledger_gw.offchain.models import DashboardSession
from ledger_gw.services import bundles
from ledger_gw.services.access import authenticate, revoke_token
from ledger_gw.services.config import GatewayConfig, create_session_key
from ledger_gw.services.gateway import Gateway
from tests.support.months import closer, month_closed
from tests.support.witnesses import settled


@pytest.fixture
def journey(gateway: Gateway) -> dict[str, Any]:
    out = seed_fatima(gateway)
    settled(gateway.ledger)  # its witnesses cosigned the latest checkpoint
    return out


def test_pages_need_a_login(client: FlaskClient) -> None:
    r = client.get("/dashboard/reports?k=7")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/dashboard/login?next=")


def test_login_sets_a_strict_httponly_secure_cookie(client: FlaskClient, tokens: Tokens) -> None:
    r = dashboard_login(client, tokens["DONOR-Y", "donor"])
    assert (r.status_code, r.headers["Location"]) == (302, "/dashboard/")
    cookie = r.headers["Set-Cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=Strict"):
        assert flag in cookie
    assert tokens["DONOR-Y", "donor"].split(".")[-1] not in cookie  # the token is encrypted


def test_login_refuses_bad_tokens_and_forms_without_csrf(
    client: FlaskClient, tokens: Tokens
) -> None:
    r = dashboard_login(client, "lgw.DONOR-Y.0123456789abcdef." + "x" * 43)
    assert r.status_code == 401
    assert "not valid" in r.get_data(as_text=True)
    r = client.post("/dashboard/login", data={"token": tokens["DONOR-Y", "donor"]})
    assert r.status_code == 401
    assert "expired" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/dashboard/%0d%0aSet-Cookie:%20s=x",  # a header of its own in the answer
        "/dashboard/\\evil.example",
        "/dashboard/\tx",
        "/dashboard/../docs/assets/index.html",  # same origin, but not the dashboard
        "/dashboard/%2e%2e/docs/assets/index.html",
    ],
)
def test_next_never_leaves_the_dashboard(client: FlaskClient, tokens: Tokens, target: str) -> None:
    csrf = dashboard_csrf(client)
    r = client.post(
        "/dashboard/login",
        query_string={"next": target.replace("%0d%0a", "\r\n")},
        data={"csrf": csrf, "token": tokens["DONOR-Y", "donor"]},
    )
    assert r.status_code == 302
    assert r.headers["Location"] == "/dashboard/"
    assert "Set-Cookie: s=x" not in str(r.headers)


def test_a_log_in_is_audited_as_its_own_callers(
    client: FlaskClient, tokens: Tokens, tmp_path: Path
) -> None:
    """Logging in over another organisation's session is recorded in the audit log of
    the one logging in, never in that of the session it replaces."""
    assert dashboard_login(client, tokens["AGENCY-A", "agency-writer"]).status_code == 302
    assert dashboard_login(client, tokens["AGENCY-B", "agency-reader"]).status_code == 302

    def logins(org: str) -> list[str]:
        db = sqlite3.connect(tmp_path / f"offchain-{org}.db")
        try:
            sql = "SELECT role FROM audit_log WHERE route = '/dashboard/login'"
            return [role for (role,) in db.execute(sql)]
        finally:
            db.close()

    assert logins("AGENCY-A") == ["agency-writer"]
    assert logins("AGENCY-B") == ["agency-reader"]


def test_two_gateways_on_one_host_keep_their_own_sessions(
    config: GatewayConfig, gateway: Gateway, tokens: Tokens, tmp_path: Path
) -> None:
    """A browser sends a host's cookies to every port of it, and compose publishes the
    gateways on ports of 127.0.0.1: opening another gateway's log-in page must not
    overwrite this one's session."""
    jar: dict[str, str] = {}  # the host's cookies, by name, whichever port set them

    def visit(app: Flask, path: str, **form: str) -> Any:
        cookies = "; ".join(f"{name}={value}" for name, value in jar.items())
        client = app.test_client(use_cookies=False)
        method = client.post if form else client.get
        r = method(path, data=form or None, headers={"Cookie": cookies})
        for raw in r.headers.getlist("Set-Cookie"):
            name, _, rest = raw.partition("=")
            jar[name] = rest.partition(";")[0]
        return r

    keys = [tmp_path / "a.key", tmp_path / "b.key"]
    for key in keys:
        create_session_key(key)
    mine, other = (create_app(replace(config, session_key_file=k), gateway) for k in keys)
    page = visit(mine, "/dashboard/login").get_data(as_text=True)
    csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]
    token = tokens["AGENCY-A", "agency-reader"]
    assert visit(mine, "/dashboard/login", csrf=csrf, token=token).status_code == 302
    assert visit(mine, "/dashboard/").status_code == 200
    assert visit(other, "/dashboard/login").status_code == 200  # it sets a cookie of its own
    assert visit(mine, "/dashboard/").status_code == 200


def test_next_leads_back_to_a_dashboard_page(client: FlaskClient, tokens: Tokens) -> None:
    r = client.post(
        "/dashboard/login?next=/dashboard/report%3Fmonth%3D2026-11",
        data={"csrf": dashboard_csrf(client), "token": tokens["DONOR-Y", "donor"]},
    )
    assert r.headers["Location"] == "/dashboard/report?month=2026-11"


def test_home_by_role(client: FlaskClient, tokens: Tokens) -> None:
    dashboard_login(client, tokens["AUDITOR-X", "auditor"])
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "Referral chains" in page
    assert "Verify a bundle" in page
    dashboard_login(client, tokens["DONOR-Y", "donor"])
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "Referral chains" not in page
    assert "Accountability report" in page


def test_chain_page_shows_verdicts_without_personal_data(
    client: FlaskClient, tokens: Tokens, journey: dict[str, Any]
) -> None:
    dashboard_login(client, tokens["AUDITOR-X", "auditor"])
    r = client.get(f"/dashboard/audit/chain?referral_id={journey['referrals'][0]}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert page.count('<tr class="pass">') == 7  # with the hand-over AGENCY-A recorded
    assert "Fatima" not in page
    assert journey["pid"] not in page
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    r = client.get(f"/dashboard/audit/bundle?referral_id={journey['referrals'][0]}")
    assert r.json["format"] == "ledger-gw/audit-bundle/v1"


def test_input_is_escaped(client: FlaskClient, tokens: Tokens) -> None:
    dashboard_login(client, tokens["AUDITOR-X", "auditor"])
    r = client.get("/dashboard/audit/chain?referral_id=<script>alert(1)</script>")
    assert r.status_code == 422
    assert "<script>alert" not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (UnavailableError("postgres at 10.0.0.7 refused", code="ledger_unavailable"), 503),
        (InternalError("the contract crashed at 10.0.0.7", code="contract_failure"), 500),
        (RuntimeError("the gateway crashed at 10.0.0.7"), 500),
    ],
)
def test_a_fault_shows_the_apis_status_and_not_its_message(
    client: FlaskClient,
    tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
    fault: Exception,
    status: int,
) -> None:
    def fail(*_: object) -> None:
        raise fault

    monkeypatch.setattr(bundles, "chain", fail)
    dashboard_login(client, tokens["AUDITOR-X", "auditor"])
    r = client.get(f"/dashboard/audit/chain?referral_id={uuid.uuid4()}")
    page = r.get_data(as_text=True)
    assert (r.status_code, r.mimetype) == (status, "text/html")
    assert f"<h1>{status} " in page
    assert "10.0.0.7" not in page
    assert "operator is told" in page or "retry later" in page


def test_verify_needs_the_csrf_token(
    client: FlaskClient, tokens: Tokens, journey: dict[str, Any]
) -> None:
    import io

    dashboard_login(client, tokens["AUDITOR-X", "auditor"])
    bundle = client.get(f"/dashboard/audit/bundle?referral_id={journey['referrals'][0]}").data
    form = {"bundle": (io.BytesIO(bundle), "b.json")}
    r = client.post("/dashboard/audit/verify", data=form)
    assert r.status_code == 400
    assert "reload the page" in r.get_data(as_text=True)
    form = {
        "csrf": dashboard_csrf(client, "/dashboard/audit/verify"),
        "bundle": (io.BytesIO(bundle), "b"),
    }
    r = client.post("/dashboard/audit/verify", data=form)
    assert (r.status_code, "The bundle verifies" in r.get_data(as_text=True)) == (200, True)


def test_donor_report_page_and_downloads(
    client: FlaskClient, tokens: Tokens, journey: dict[str, Any]
) -> None:
    gateway = client.application.extensions["ledger_gw"]
    dashboard_login(client, tokens["DONOR-Y", "donor"])
    before = client.get("/dashboard/reports").get_data(as_text=True)
    assert 'id="donor-period"' in before  # the last closed month, by default
    assert 'id="nothing-logged"' in before  # everything here was logged this month
    with month_closed(closer(gateway.ledger, gateway.signers["AGENCY-A"])):
        dashboard_login(client, tokens["DONOR-Y", "donor"])  # a session of the moved clock
        page = client.get("/dashboard/reports").get_data(as_text=True)
        assert page.count("<svg") == 3
        assert "suppressed (&lt; 5)" in page
        assert 'id="donor-period"' in page
        assert 'id="nothing-logged"' not in page
        for fmt, mimetype in (
            ("json", "application/json"),
            ("hxl", "text/csv"),
            ("iati", "application/xml"),
        ):
            r = client.get(f"/dashboard/reports/download?format={fmt}&programme=MPCA-2026")
            assert (r.status_code, r.mimetype) == (200, mimetype)
        assert client.get("/dashboard/audit/chain").status_code == 403


def test_agency_is_held_to_its_own_report(
    client: FlaskClient, tokens: Tokens, journey: dict[str, Any]
) -> None:
    dashboard_login(client, tokens["AGENCY-A", "agency-reader"])
    page = client.get("/dashboard/reports").get_data(as_text=True)
    assert "Accountability report: AGENCY-A" in page
    assert 'id="donor-period"' not in page  # any period, by the events' own dates
    assert client.get("/dashboard/reports?org=AGENCY-B").status_code == 403


def test_revoking_the_token_ends_the_session(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    token = tokens["DONOR-Y", "donor"]
    dashboard_login(client, token)
    assert client.get("/dashboard/").status_code == 200
    store = app.extensions["ledger_gw"].store("DONOR-Y")
    token_id = authenticate(store, token).token_id
    revoke_token(store, token_id)
    with store.reading() as s:  # ended in the database at once, not only refused
        rows = s.scalars(select(DashboardSession).where(DashboardSession.token_id == token_id))
        assert [row.ended_at is not None for row in rows] == [True]
    assert client.get("/dashboard/").status_code == 302


def test_logout(client: FlaskClient, tokens: Tokens) -> None:
    dashboard_login(client, tokens["DONOR-Y", "donor"])
    csrf = dashboard_csrf(client, "/dashboard/")
    assert client.post("/dashboard/logout", data={"csrf": csrf}).status_code == 302
    assert client.get("/dashboard/").status_code == 302


def _replayed(app: Flask, cookie: str) -> Any:
    """The dashboard's home, asked for from another browser holding a copy of the cookie."""
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return thief.get("/dashboard/")


def test_a_cookie_replayed_after_logout_is_refused(app: Flask, tokens: Tokens) -> None:
    """A copy of the cookie taken while logged in (a shared computer, a proxy's log)."""
    browser = app.test_client()
    dashboard_login(browser, tokens["AGENCY-A", "agency-reader"])
    stolen = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert stolen is not None
    csrf = dashboard_csrf(browser, "/dashboard/")
    assert browser.post("/dashboard/logout", data={"csrf": csrf}).status_code == 302
    r = _replayed(app, stolen.value)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/dashboard/login")


def test_logging_in_again_ends_the_session_before(app: Flask, tokens: Tokens) -> None:
    """Another log-in in the same browser (a shared computer, the next caseworker): the
    cookie of the first session is worthless afterwards, as after log-out."""
    browser = app.test_client()
    dashboard_login(browser, tokens["AGENCY-A", "agency-reader"])
    stolen = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert stolen is not None
    assert dashboard_login(browser, tokens["AGENCY-B", "agency-reader"]).status_code == 302
    assert browser.get("/dashboard/").status_code == 200
    r = _replayed(app, stolen.value)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/dashboard/login")


def test_a_csrf_value_beyond_ascii_is_a_stale_form(client: FlaskClient, tokens: Tokens) -> None:
    dashboard_csrf(client)  # the session holds a token to compare with
    r = client.post(
        "/dashboard/login", data={"csrf": "\u00e9", "token": tokens["DONOR-Y", "donor"]}
    )
    assert r.status_code == 401
    assert "expired" in r.get_data(as_text=True)


def test_a_cookie_is_good_until_logout(app: Flask, tokens: Tokens) -> None:
    browser = app.test_client()
    dashboard_login(browser, tokens["AGENCY-A", "agency-reader"])
    stolen = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert stolen is not None
    assert _replayed(app, stolen.value).status_code == 200


LIFETIME = dt.timedelta(hours=8)
# What a browser keeps as it was typed and offers again in its autofill: not the date,
# number, file and hidden fields, nor the choices of a select.
TYPED = {"text", "search", "password", "email", "tel", "url"}


class _Inputs(HTMLParser):
    """The attributes of every <input> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.found.append(dict(attrs))


def _typed_inputs(page: str) -> list[dict[str, str | None]]:
    parser = _Inputs()
    parser.feed(page)
    return [i for i in parser.found if (i.get("type") or "text") in TYPED]


def test_nothing_typed_into_the_dashboard_stays_in_the_browsers_autofill(
    app: Flask, tokens: Tokens
) -> None:
    """Names and birth dates searched for, referral IDs and the token itself: a shared
    field device would offer them to the next person who types in a field, and a
    browser's spelling service in the cloud would be sent them as they are typed."""
    seen: dict[str, tuple[str | None, str | None]] = {}
    browser = app.test_client()
    for input_ in _typed_inputs(browser.get("/dashboard/login").get_data(as_text=True)):
        seen[str(input_["id"])] = (input_.get("autocomplete"), input_.get("spellcheck"))
    pages = {
        ("AGENCY-A", "agency-writer"): (
            "/dashboard/",
            "/dashboard/referrals",
            "/dashboard/persons",
            "/dashboard/outbox",
            "/dashboard/credentials/verify",
        ),
        ("AUDITOR-X", "auditor"): (
            "/dashboard/",
            "/dashboard/audit/chain",
            "/dashboard/audit/verify",
        ),
    }
    for (org, role), urls in pages.items():
        assert dashboard_login(browser, tokens[org, role]).status_code == 302
        answers = [browser.get(url) for url in urls]
        if role == "agency-writer":  # a search's answer echoes its terms in the field
            form = {
                "csrf": dashboard_csrf(browser, "/dashboard/"),
                "q": "Fatima Al-Hassan 1990-03-14",
            }
            answers.append(browser.post("/dashboard/persons", data=form))
        for r in answers:
            assert r.status_code == 200, r.request.path
            for input_ in _typed_inputs(r.get_data(as_text=True)):
                seen[str(input_["id"])] = (input_.get("autocomplete"), input_.get("spellcheck"))
    assert {"token", "q", "referral_id", "home-referral"} <= set(seen)
    assert seen == dict.fromkeys(seen, ("off", "false"))


def _at_rest(clock: time_machine.Coordinates, minutes: float) -> None:
    clock.shift(dt.timedelta(minutes=minutes))


def test_a_session_left_idle_for_half_an_hour_is_logged_out(app: Flask, tokens: Tokens) -> None:
    """A field device left open: half an hour after its last request the session is
    over, and a copy of its cookie with it. The browser keeps the cookie to present it
    once more, which ends the session server-side (test_dashboard_sessions)."""
    browser = app.test_client()
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        dashboard_login(browser, tokens["AGENCY-A", "agency-reader"])
        _at_rest(clock, 29)
        assert browser.get("/dashboard/referrals").status_code == 200
        _at_rest(clock, 29)  # idle since the last request, not since the log-in
        assert browser.get("/dashboard/referrals").status_code == 200
        copy = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
        assert copy is not None
        assert copy.expires == dt.datetime.now(dt.UTC).replace(microsecond=0) + LIFETIME
        _at_rest(clock, 31)
        r = browser.get("/dashboard/referrals")
        assert r.status_code == 302
        assert r.headers["Location"] == "/dashboard/login?next=/dashboard/referrals"
        assert browser.get("/dashboard/").status_code == 302  # not by chance: logged out
        assert _replayed(app, copy.value).status_code == 302


def test_a_session_in_use_lasts_eight_hours_and_no_longer(app: Flask, tokens: Tokens) -> None:
    browser = app.test_client()
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        dashboard_login(browser, tokens["AGENCY-A", "agency-reader"])
        for _ in range(8 * 3 - 1):  # a request every 20 minutes, up to 7 h 40 min
            _at_rest(clock, 20)
            assert browser.get("/dashboard/referrals").status_code == 200
        _at_rest(clock, 19)  # 7 h 59 min
        assert browser.get("/dashboard/referrals").status_code == 200
        _at_rest(clock, 2)  # 8 h 1 min, in use a minute ago
        r = browser.get("/dashboard/referrals")
        assert r.status_code == 302
        assert r.headers["Location"].startswith("/dashboard/login?next=")
