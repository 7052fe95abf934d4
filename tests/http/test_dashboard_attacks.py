"""Attacks on the dashboard through Flask's client: every page and form with every
role's token, hostile values from the store, the ledger and the URL, a form posted
from a session that ended, and what downloads and headers give away. The browser
tests (tests/browser/test_dashboard_attacks_browser.py) drive what needs Chromium."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from api_helpers import CSRF, Api, Tokens, dashboard_csrf, dashboard_login
from flask import Flask
from flask.testing import FlaskClient

from ledger_gw.demo.seed import seed_fatima
from ledger_gw.services.access import PERMISSIONS, ROLES_FOR_ORG, Action, Role
from ledger_gw.services.gateway import Gateway
from tests.support.events import pid, referral_created
from tests.support.witnesses import settled

ORGS = {"AGENCY-A": "agency", "AGENCY-B": "agency", "AUDITOR-X": "auditor", "DONOR-Y": "donor"}
PAIRS = [(org, role) for org, kind in ORGS.items() for role in sorted(ROLES_FOR_ORG[kind])]
NOBODY = "00000000-0000-4000-8000-000000000000"
PID = pid()

Send = Callable[[FlaskClient, str], Any]
# Each dashboard page and form, by method and rule, with the action the API asks for the
# same reads and writes (the inbox asks more: it is an agency's, not an auditor's).
PAGES: dict[tuple[str, str], tuple[Action | None, Send]] = {
    ("GET", "/dashboard/"): (None, lambda c, _: c.get("/dashboard/")),
    ("POST", "/dashboard/logout"): (None, lambda c, t: c.post(
        "/dashboard/logout", data={"csrf": t})),
    ("GET", "/dashboard/audit/chain"): (Action.AUDIT_BUNDLES, lambda c, _: c.get(
        f"/dashboard/audit/chain?referral_id={NOBODY}")),
    ("GET", "/dashboard/audit/bundle"): (Action.AUDIT_BUNDLES, lambda c, _: c.get(
        f"/dashboard/audit/bundle?referral_id={NOBODY}")),
    ("GET", "/dashboard/audit/verify"): (Action.AUDIT_VERIFY, lambda c, _: c.get(
        "/dashboard/audit/verify")),
    ("POST", "/dashboard/audit/verify"): (Action.AUDIT_VERIFY, lambda c, t: c.post(
        "/dashboard/audit/verify", data={"csrf": t, "bundle": (io.BytesIO(b"{}"), "b.json")})),
    ("GET", "/dashboard/reports"): (Action.REPORTS_READ, lambda c, _: c.get(
        "/dashboard/reports")),
    ("GET", "/dashboard/reports/download"): (Action.REPORTS_READ, lambda c, _: c.get(
        "/dashboard/reports/download?format=csv")),
    ("GET", "/dashboard/referrals"): (Action.REGISTRATIONS_READ, lambda c, _: c.get(
        "/dashboard/referrals")),
    ("POST", "/dashboard/referrals/<uuid:referral_id>/answer"): (Action.EVENTS_WRITE,
        lambda c, t: c.post(f"/dashboard/referrals/{NOBODY}/answer", data={
            "csrf": t, "answer": "accept", "event_id": str(uuid.uuid4())})),
    ("GET", "/dashboard/outbox"): (Action.EVENTS_WRITE, lambda c, _: c.get("/dashboard/outbox")),
    ("GET", "/dashboard/outbox/<int:seq>/dismiss"): (Action.EVENTS_WRITE, lambda c, _: c.get(
        "/dashboard/outbox/1/dismiss")),
    ("POST", "/dashboard/outbox/<int:seq>/dismiss"): (Action.EVENTS_WRITE, lambda c, t: c.post(
        "/dashboard/outbox/1/dismiss", data={"csrf": t})),
    ("GET", "/dashboard/persons"): (Action.REGISTRATIONS_READ, lambda c, _: c.get(
        "/dashboard/persons")),
    ("POST", "/dashboard/persons"): (Action.REGISTRATIONS_READ, lambda c, t: c.post(
        "/dashboard/persons", data={"csrf": t, "q": "Fatima"})),
    ("GET", "/dashboard/persons/<pid>"): (Action.PERSONS_READ, lambda c, _: c.get(
        f"/dashboard/persons/{PID}")),
    ("GET", "/dashboard/credentials/verify"): (Action.CREDENTIALS_VERIFY, lambda c, _: c.get(
        "/dashboard/credentials/verify")),
    ("POST", "/dashboard/credentials/verify"): (Action.CREDENTIALS_VERIFY, lambda c, t: c.post(
        "/dashboard/credentials/verify", data={"csrf": t, "card": (io.BytesIO(b"x"), "c.txt")})),
}  # fmt: skip
OPEN = {("GET", "/dashboard/login"), ("POST", "/dashboard/login"), ("GET", "/")}


def _login(client: FlaskClient, token: str) -> str:
    """Log in; the new session's CSRF token."""
    assert dashboard_login(client, token).status_code == 302
    return dashboard_csrf(client, "/dashboard/")


def test_every_dashboard_route_is_in_the_matrix(app: Flask) -> None:
    """A page added later is held to a role here, or this fails."""
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("dashboard.", "landing."))
        and rule.endpoint != "dashboard.static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == set(PAGES) | OPEN


@pytest.mark.parametrize(("org", "role"), PAIRS)
def test_each_page_with_each_role(client: FlaskClient, tokens: Tokens, org: str, role: str) -> None:
    """A role the API refuses the action gets a 403 page; any other gets past it."""
    csrf = _login(client, tokens[org, role])
    for route in sorted(PAGES, key=lambda route: route == ("POST", "/dashboard/logout")):
        action, send = PAGES[route]
        r = send(client, csrf)
        page = r.get_data(as_text=True)
        if action is None or Role(role) in PERMISSIONS[action]:
            assert r.status_code not in (400, 401, 403), (route, page[:400])
            assert not r.headers.get("Location", "").startswith("/dashboard/login?"), route
        else:
            assert r.status_code == 403, route
            assert "<h1>403 Forbidden</h1>" in page
        assert r.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_an_agency_answers_and_reads_only_its_own(
    client: FlaskClient, tokens: Tokens, api: Api
) -> None:
    """Another organisation's IDs in the URL: a referral to AGENCY-C is not in B's inbox
    (answering it is not found, and nothing is logged), and another agency's report,
    named in the URL, is refused."""
    event = referral_created(pid(), "AGENCY-C")
    assert api.as_("AGENCY-A").post("/v1/events", json=event).status_code == 201
    csrf = _login(client, tokens["AGENCY-B", "agency-writer"])
    r = client.post(
        f"/dashboard/referrals/{event['referral_id']}/answer",
        data={"csrf": csrf, "answer": "accept", "event_id": str(uuid.uuid4())},
    )
    assert r.status_code == 404
    state = api.as_("AGENCY-C").get(f"/v1/referrals/{event['referral_id']}?purpose=referral")
    assert state.get_json()["state"] == "created"
    for url in ("/dashboard/reports?org=AGENCY-A", "/dashboard/reports/download?org=AGENCY-A"):
        r = client.get(url)
        assert r.status_code == 403
        assert "AGENCY-A" not in _main(r).replace("org=AGENCY-A", "")


HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "<svg onload=alert(1)>",
    "'onmouseover='alert(1)",
)


def _main(response: Any) -> str:
    """The page's own part (an error as problem+json is all of it)."""
    return str(response.get_data(as_text=True).split("<main>", 1)[-1])


class _Markup(HTMLParser):
    """The elements and attributes a browser would make of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


def _inert(response: Any) -> None:
    """No element, attribute or URL the hostile values would have made, in a page; an
    error that is not a page (a path no route has) is problem+json, never sniffed."""
    if response.mimetype != "text/html":
        assert response.mimetype == "application/problem+json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        return
    markup = _Markup()
    markup.feed(_main(response))
    assert not {"script", "img", "svg"} & set(markup.tags)
    assert not [name for name, _ in markup.attributes if name.startswith("on")]
    urls = [v for name, v in markup.attributes if name in ("href", "src", "action")]
    assert not [url for url in urls if url.strip().lower().startswith("javascript:")]


def test_values_a_caseworker_typed_reach_another_escaped(
    client: FlaskClient, tokens: Tokens, api: Api
) -> None:
    """Stored: attributes one caseworker typed, listed and searched for by another."""
    for n, value in enumerate(HOSTILE):
        attributes = {"given_name": value, "family_name": f"Mallory{n}"}
        attributes["date_of_birth"] = f"1990-03-1{n}"
        r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": attributes})
        assert r.status_code == 201, r.get_json()
    csrf = _login(client, tokens["AGENCY-A", "agency-reader"])
    listed = client.get("/dashboard/persons")
    assert "Mallory0" in listed.get_data(as_text=True)
    _inert(listed)
    for value in HOSTILE:
        _inert(client.post("/dashboard/persons", data={"csrf": csrf, "q": value}))


@pytest.mark.parametrize("value", HOSTILE)
def test_values_from_the_url_and_the_form_come_back_escaped(
    client: FlaskClient, tokens: Tokens, value: str
) -> None:
    """Reflected: query parameters, their names, and what an error page repeats."""
    _login(client, tokens["AGENCY-B", "agency-writer"])
    for url in (
        f"/dashboard/referrals?state={value}",
        f"/dashboard/referrals?cursor={value}",
        f"/dashboard/persons/{value}",
        f"/dashboard/persons/{PID}?history_after={value}",
        f"/dashboard/reports?programme={value}",
        f"/dashboard/reports?{value}=1",
        f"/dashboard/reports/download?format={value}",
        f"/dashboard/outbox?cursor={value}",
    ):
        r = client.get(url)
        assert r.status_code in (404, 422), (url, r.status_code)
        _inert(r)
    _login(client, tokens["AUDITOR-X", "auditor"])
    r = client.get(f"/dashboard/audit/chain?referral_id={value}")
    assert r.status_code == 422
    _inert(r)


def _ended_elsewhere(app: Flask, client: FlaskClient) -> None:
    """Log the browser's session out from a second tab (the same cookie)."""
    other = app.test_client()
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    other.set_cookie(cookie.key, cookie.value)
    csrf = CSRF.search(other.get("/dashboard/").get_data(as_text=True))
    assert csrf is not None
    assert other.post("/dashboard/logout", data={"csrf": csrf.group(1)}).status_code == 302


@pytest.mark.parametrize(
    "form",
    [
        "/dashboard/referrals/{referral}/answer",
        "/dashboard/logout",
        "/dashboard/persons",
    ],
)
def test_a_form_left_open_after_logging_out_elsewhere(
    app: Flask, client: FlaskClient, tokens: Tokens, api: Api, form: str
) -> None:
    """Logged out in another tab, a caseworker sends the form still open in this one:
    nothing is recorded, she logs in again, and lands on a page, not on a form's
    address that answers only POST (405)."""
    event = referral_created(pid(), "AGENCY-B")
    assert api.as_("AGENCY-A").post("/v1/events", json=event).status_code == 201
    csrf = _login(client, tokens["AGENCY-B", "agency-writer"])
    _ended_elsewhere(app, client)
    data = {"csrf": csrf, "answer": "accept", "event_id": str(uuid.uuid4()), "q": "x"}
    r = client.post(form.format(referral=event["referral_id"]), data=data)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/dashboard/login")
    state = api.as_("AGENCY-B").get(f"/v1/referrals/{event['referral_id']}?purpose=referral")
    assert state.get_json()["state"] == "created"
    login = client.get(r.headers["Location"])
    token_csrf = CSRF.search(login.get_data(as_text=True))
    assert token_csrf is not None
    back = client.post(
        r.headers["Location"],
        data={"csrf": token_csrf.group(1), "token": tokens["AGENCY-B", "agency-writer"]},
    )
    assert back.status_code == 302
    landed = client.get(back.headers["Location"])
    assert landed.status_code == 200, back.headers["Location"]
    assert "Nothing was recorded" not in landed.get_data(as_text=True)
    state = api.as_("AGENCY-B").get(f"/v1/referrals/{event['referral_id']}?purpose=referral")
    assert state.get_json()["state"] == "created"


def test_a_page_left_open_sends_its_reader_back_to_it(client: FlaskClient) -> None:
    """A page (GET) still comes back after the log-in, query and all."""
    r = client.get("/dashboard/referrals?state=created")
    assert r.headers["Location"] == "/dashboard/login?next=/dashboard/referrals?state%3Dcreated"


def test_downloads_name_their_files_safely_and_hold_no_formula(
    client: FlaskClient, tokens: Tokens, gateway: Gateway
) -> None:
    """A quote or a line break cannot reach Content-Disposition (the IDs and codes that
    name a file are checked first), and no CSV cell starts as a spreadsheet formula."""
    _login(client, tokens["DONOR-Y", "donor"])
    for url in (
        '/dashboard/reports/download?format=csv&org=AGENCY-A"%0d%0aX-Evil:1',
        '/dashboard/reports/download?format=csv&programme=MPCA"',
    ):
        r = client.get(url)
        assert r.status_code == 422
        assert "Content-Disposition" not in r.headers
        assert "X-Evil" not in r.headers
    seed_fatima(gateway)
    settled(gateway.ledger)
    client.post("/dashboard/logout", data={"csrf": dashboard_csrf(client, "/dashboard/")})
    _login(client, tokens["AGENCY-A", "agency-reader"])
    for fmt in ("csv", "hxl"):
        r = client.get(f"/dashboard/reports/download?format={fmt}")
        assert r.status_code == 200
        assert re.fullmatch(
            r'attachment; filename="accountability-AGENCY-A-[0-9]+\.(hxl\.)?csv"',
            r.headers["Content-Disposition"],
        )
        cells = [c for row in csv.reader(io.StringIO(r.get_data(as_text=True))) for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
        assert not [c for c in cells if c.startswith("-") and not re.fullmatch(r"-[0-9.]+", c)]
    client.post("/dashboard/logout", data={"csrf": dashboard_csrf(client, "/dashboard/")})
    _login(client, tokens["AUDITOR-X", "auditor"])
    r = client.get('/dashboard/audit/bundle?referral_id=x"%0d%0aX-Evil:1')
    assert r.status_code == 422
    assert "Content-Disposition" not in r.headers
