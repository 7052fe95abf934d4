"""Dashboard sessions attacked through Flask's client, against the real database: copies
of the cookie kept in use past an idle-out, fixation, forged forms, rows that pile up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from api_helpers import Tokens, dashboard_csrf, dashboard_login
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ledger_gw.offchain.models import DashboardSession
from ledger_gw.offchain.store import OffchainStore
from ledger_gw.services import dashboard_sessions
from ledger_gw.services.access import authenticate

ORG, ROLE = "AGENCY-A", "agency-writer"
EIGHT_HOURS = dt.timedelta(hours=8)


def _cookie(app: Flask, client: FlaskClient) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def _holding(app: Flask, value: str) -> FlaskClient:
    """Another browser, holding a copy of a session cookie."""
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], value)
    return other


def _browser_keeps_it(app: Flask, client: FlaskClient) -> None:
    """Flask's client sends a cookie past its expiry; a browser would have dropped it."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    assert cookie.expires is not None
    assert cookie.expires > dt.datetime.now(dt.UTC), "the browser dropped the cookie"


def _logged_in(client: FlaskClient) -> bool:
    r = client.get("/dashboard/")
    assert r.status_code in (200, 302)
    return r.status_code == 200


def _rows(store: OffchainStore) -> list[DashboardSession]:
    with store.reading() as s:
        return list(s.scalars(select(DashboardSession)))


@pytest.mark.parametrize("comes_back", ["to a page", "and logs in"])
def test_a_copy_kept_in_use_dies_when_its_owner_comes_back_to_an_idle_session(
    app: Flask, tokens: Tokens, comes_back: str
) -> None:
    """Someone copied the cookie and keeps the session busy while its owner is away:
    once the owner's browser presents its idle cookie again, the session is over for
    every copy, and the owner finds the log-in page."""
    owner = app.test_client()
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        assert dashboard_login(owner, tokens[ORG, ROLE]).status_code == 302
        thief = _holding(app, _cookie(app, owner))
        for _ in range(3):  # a request every 20 minutes: never idle, but not the owner
            clock.shift(dt.timedelta(minutes=20))
            assert _logged_in(thief)
        _browser_keeps_it(app, owner)  # its owner's, idle for an hour
        if comes_back == "to a page":
            r = owner.get("/dashboard/referrals")
            assert r.headers["Location"] == "/dashboard/login?next=/dashboard/referrals"
            assert not _logged_in(owner)
        else:
            assert dashboard_login(owner, tokens[ORG, ROLE]).status_code == 302
            assert _logged_in(owner)
        assert not _logged_in(thief)


def test_an_idle_session_is_ended_in_the_database_and_stays_ended(
    app: Flask, tokens: Tokens
) -> None:
    """Past the idle timeout the session's row is ended when the cookie is next shown:
    using it again, or a copy of it, does not bring it back."""
    store = app.extensions["ledger_gw"].store(ORG)
    browser = app.test_client()
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        dashboard_login(browser, tokens[ORG, ROLE])
        copy = _cookie(app, browser)
        clock.shift(dt.timedelta(minutes=31))
        assert not _logged_in(_holding(app, copy))
        (row,) = _rows(store)
        assert row.ended_at is not None
        assert not _logged_in(_holding(app, copy))
        assert not _logged_in(browser)
        clock.shift(dt.timedelta(minutes=-30))  # a clock set back does not revive it
        assert not _logged_in(_holding(app, copy))


def test_logging_out_of_an_idle_session_ends_it(app: Flask, tokens: Tokens) -> None:
    """The log-out button of a page left open past the idle timeout: the session ends,
    not only this browser's cookie."""
    browser = app.test_client()
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        dashboard_login(browser, tokens[ORG, ROLE])
        csrf, copy = dashboard_csrf(browser, "/dashboard/"), _cookie(app, browser)
        fresher = _holding(app, copy)
        clock.shift(dt.timedelta(minutes=29))
        assert _logged_in(fresher)  # a copy used since
        clock.shift(dt.timedelta(minutes=2))
        r = browser.post("/dashboard/logout", data={"csrf": csrf})
        assert r.headers["Location"].startswith("/dashboard/login")
        assert not _logged_in(fresher)


def test_ended_sessions_do_not_pile_up(app: Flask, tokens: Tokens) -> None:
    """Each log-in is a row: those logged out, left idle and ended, or past the 8 hours,
    are gone once someone logs in, leaving the live ones."""
    store = app.extensions["ledger_gw"].store(ORG)
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        forgotten = app.test_client()  # never logged out
        dashboard_login(forgotten, tokens[ORG, ROLE])
        for _ in range(3):
            browser = app.test_client()
            dashboard_login(browser, tokens[ORG, "agency-reader"])
            browser.post("/dashboard/logout", data={"csrf": dashboard_csrf(browser, "/dashboard/")})
        idle = app.test_client()
        dashboard_login(idle, tokens[ORG, "agency-reader"])
        clock.shift(dt.timedelta(hours=7, minutes=50))
        live = app.test_client()
        dashboard_login(live, tokens[ORG, ROLE])
        assert not _logged_in(idle)  # and ended
        clock.shift(dt.timedelta(minutes=11))  # the forgotten one is 8 h 1 min old
        dashboard_login(app.test_client(), tokens[ORG, ROLE])
        assert len(_rows(store)) == 2  # the two of the last 8 hours, live
        assert _logged_in(live)


def test_a_session_row_past_its_lifetime_is_not_live(app: Flask, tokens: Tokens) -> None:
    """The row says the session is over by itself, not only the cookie, so that clearing
    such rows away changes no answer."""
    store = app.extensions["ledger_gw"].store(ORG)
    token_id = authenticate(store, tokens[ORG, ROLE]).token_id
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        sid = dashboard_sessions.start(store, token_id)
        clock.shift(EIGHT_HOURS - dt.timedelta(seconds=1))
        assert dashboard_sessions.is_live(store, sid, token_id)
        clock.shift(dt.timedelta(seconds=1))
        assert not dashboard_sessions.is_live(store, sid, token_id)


def test_session_rows_are_cleared_away_on_postgresql(
    pg_database: Callable[..., str],
) -> None:
    """The same rules in an organisation's PostgreSQL database."""
    store = OffchainStore("AGENCY-A", pg_database())
    try:
        store.migrate()
        with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
            old, ended = (dashboard_sessions.start(store, "t") for _ in range(2))
            dashboard_sessions.end(store, ended)
            clock.shift(EIGHT_HOURS - dt.timedelta(seconds=1))
            assert dashboard_sessions.is_live(store, old, "t")
            young = dashboard_sessions.start(store, "t")
            assert {row.id for row in _rows(store)} == {old, young}
            clock.shift(dt.timedelta(seconds=1))
            assert not dashboard_sessions.is_live(store, old, "t")
            newest = dashboard_sessions.start(store, "t")
            assert {row.id for row in _rows(store)} == {young, newest}
            assert dashboard_sessions.is_live(store, young, "t")
    finally:
        store.close()


def test_a_cookie_planted_before_log_in_gains_nothing(app: Flask, tokens: Tokens) -> None:
    """Session fixation: someone hands the victim's browser a cookie of their own (its
    CSRF token known to them) and waits for the log-in. The log-in is a new session:
    the planted cookie stays logged out and its CSRF token is worthless."""
    attacker = app.test_client()
    planted_csrf = dashboard_csrf(attacker)
    victim = _holding(app, _cookie(app, attacker))
    r = victim.post("/dashboard/login", data={"csrf": planted_csrf, "token": tokens[ORG, ROLE]})
    assert r.status_code == 302
    assert _logged_in(victim)
    assert not _logged_in(attacker)
    assert dashboard_csrf(victim, "/dashboard/") != planted_csrf
    r = victim.post("/dashboard/logout", data={"csrf": planted_csrf})
    assert r.status_code == 400
    assert _logged_in(victim)


def test_every_dashboard_form_needs_the_sessions_csrf_token(app: Flask, tokens: Tokens) -> None:
    """Every POST of the dashboard, by a caller allowed it, without the CSRF token or
    with another session's, is refused before it does anything."""
    other = app.test_client()
    dashboard_login(other, tokens["AGENCY-B", ROLE])
    foreign = dashboard_csrf(other, "/dashboard/")
    posts = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/dashboard/")
        and "POST" in (rule.methods or ())
        and rule.rule != "/dashboard/login"
    )
    assert {"/dashboard/logout", "/dashboard/outbox/<int:seq>/dismiss"} <= set(posts)
    path = {"<uuid:referral_id>": "5f0c7a3e-8d2b-4c61-9a4e-2b7d1c0e9f13", "<int:seq>": "1"}
    refused: dict[str, set[int]] = {}
    for org, role in ((ORG, "agency-writer"), ("AUDITOR-X", "auditor")):
        browser = app.test_client()
        assert dashboard_login(browser, tokens[org, role]).status_code == 302
        for rule in posts:
            url = rule
            for variable, value in path.items():
                url = url.replace(variable, value)
            for form in ({}, {"csrf": foreign}):
                refused.setdefault(rule, set()).add(browser.post(url, data=form).status_code)
        assert _logged_in(browser)  # not even the log-out went through
    assert all(codes <= {400, 403} and 400 in codes for codes in refused.values()), refused
