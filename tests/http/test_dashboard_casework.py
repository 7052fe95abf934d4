"""Caseworkers' pages through Flask's client: the landing page, the referral inbox and its
answers (with every refusal: role, CSRF, another agency's referral, a bad answer), the
person page with its withheld counts, and the search of the agency's own registrations."""

from __future__ import annotations

import html
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Api, Tokens
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient

from api.dashboard import casework as casework_pages
from ledger_gw.errors import InternalError, UnavailableError
from ledger_gw.services import outbox as outbox_service
from tests.support.events import (
    consent_granted,
    delivery,
    entitlement_granted,
    pid,
    referral_created,
    referral_step,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EVENT_ID = re.compile(r'name="event_id" value="([^"]+)"')
FATIMA = {"given_name": "Fatima", "family_name": "Hassan", "date_of_birth": "1990-03-01"}


def _login(client: FlaskClient, token: str) -> str:
    """Log in; the session's CSRF token."""
    page = client.get("/dashboard/login").get_data(as_text=True)
    match = CSRF.search(page)
    assert match is not None
    r = client.post("/dashboard/login", data={"csrf": match.group(1), "token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    return _csrf(client)  # a new session has a new CSRF token


def _csrf(client: FlaskClient) -> str:
    match = CSRF.search(client.get("/dashboard/").get_data(as_text=True))
    assert match is not None
    return match.group(1)


def _post(api: Api, org: str, event: dict[str, Any]) -> None:
    r = api.as_(org).post("/v1/events", json=event)
    assert r.status_code == 201, r.get_json()


def _state(api: Api, org: str, referral_id: str) -> dict[str, Any]:
    r = api.as_(org).get(f"/v1/referrals/{referral_id}?purpose=referral")
    assert r.status_code == 200, r.get_json()
    body: dict[str, Any] = r.get_json()
    return body


def _answer(client: FlaskClient, csrf: str, referral_id: str, answer: str, **form: str) -> Any:
    data = {"csrf": csrf, "answer": answer, "event_id": str(uuid.uuid4()), **form}
    return client.post(f"/dashboard/referrals/{referral_id}/answer", data=data)


@pytest.fixture
def inbox(api: Api) -> dict[str, str]:
    """Two referrals from AGENCY-A to AGENCY-B, one to AGENCY-C."""
    out = {}
    for name, to in (("first", "AGENCY-B"), ("second", "AGENCY-B"), ("elsewhere", "AGENCY-C")):
        event = referral_created(pid(), to)
        _post(api, "AGENCY-A", event)
        out[name] = event["referral_id"]
    return out


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- the landing page ------------------------------------------------------------------


def test_the_landing_page_says_what_this_is_and_offers_a_login(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    page = _text(r)
    assert "<h1>Referral and entitlement ledger: agency gateway</h1>" in page
    assert 'href="/dashboard/login"' in page
    assert "Referral inbox" not in page
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("org", "role", "shown", "hidden"),
    [
        ("AGENCY-B", "agency-writer", ["/dashboard/referrals", "/dashboard/persons"], []),
        ("AGENCY-B", "agency-reader", ["/dashboard/referrals", "/dashboard/reports"], []),
        (
            "DONOR-Y",
            "donor",
            ["/dashboard/reports"],
            ["/dashboard/referrals", "/dashboard/persons"],
        ),
        ("AUDITOR-X", "auditor", ["/dashboard/audit/chain"], ["/dashboard/referrals"]),
    ],
)
def test_the_landing_page_links_the_screens_of_the_role(
    client: FlaskClient, tokens: Tokens, org: str, role: str, shown: list[str], hidden: list[str]
) -> None:
    _login(client, tokens[org, role])
    page = _text(client.get("/"))
    screens = page[page.index('id="screens"') : page.index("</ul>", page.index('id="screens"'))]
    assert f"{org}, {role}" in page
    for url in shown:
        assert f'href="{url}"' in screens
    for url in hidden:
        assert f'href="{url}"' not in screens


# --- the inbox ---------------------------------------------------------------------------


def test_the_inbox_lists_the_agencys_incoming_referrals_with_their_state(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str]
) -> None:
    _post(api, "AGENCY-B", referral_step("declined", inbox["second"]))
    _login(client, tokens["AGENCY-B", "agency-writer"])
    r = client.get("/dashboard/referrals")
    assert r.status_code == 200
    page = _text(r)
    assert "<caption>Referrals to AGENCY-B (2 shown)</caption>" in page
    assert f'id="referral-{inbox["first"]}"' in page
    assert f'id="referral-{inbox["elsewhere"]}"' not in page  # AGENCY-C's
    assert f'id="accept-{inbox["first"]}" aria-label="Accept referral {inbox["first"]}"' in page
    assert f'<label for="reason-{inbox["first"]}">' in page
    assert f'<select id="reason-{inbox["first"]}" name="reason">' in page
    assert f'id="accept-{inbox["second"]}"' not in page  # answered already
    assert "declined (capacity)" in page
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    only = _text(client.get("/dashboard/referrals?state=declined"))
    assert f'id="referral-{inbox["first"]}"' not in only
    assert f'id="referral-{inbox["second"]}"' in only


def test_a_caseworker_accepts_and_declines_with_the_apis_events(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str]
) -> None:
    csrf = _login(client, tokens["AGENCY-B", "agency-writer"])
    r = _answer(client, csrf, inbox["first"], "accept")
    assert (r.status_code, r.headers["Location"]) == (302, "/dashboard/referrals")
    assert f"Referral {inbox['first']} is now accepted." in _text(client.get(r.headers["Location"]))
    r = _answer(client, csrf, inbox["second"], "decline", reason="out_of_scope")
    assert r.status_code == 302

    first, second = (
        _state(api, "AGENCY-B", inbox["first"]),
        _state(api, "AGENCY-B", inbox["second"]),
    )
    assert first["state"] == "accepted"
    assert [e["event"]["type"] for e in first["events"]] == [
        "referral.created",
        "referral.accepted",
    ]
    assert first["events"][1]["org"] == "AGENCY-B"  # signed in the agency's name
    assert (second["state"], second["reason"]) == ("declined", "out_of_scope")
    assert _state(api, "AGENCY-A", inbox["first"])["state"] == "accepted"  # the sender sees it


def test_the_same_form_sent_twice_is_one_event(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str]
) -> None:
    csrf = _login(client, tokens["AGENCY-B", "agency-writer"])
    page = client.get("/dashboard/referrals").get_data(as_text=True)
    row = page[page.index(f'id="referral-{inbox["first"]}"') :]
    event_id = EVENT_ID.search(row)
    assert event_id is not None
    form = {"csrf": csrf, "answer": "accept", "event_id": event_id.group(1)}
    url = f"/dashboard/referrals/{inbox['first']}/answer"
    assert client.post(url, data=form).status_code == 302
    assert client.post(url, data=form).status_code == 302  # a replay, not a refusal
    events = _state(api, "AGENCY-B", inbox["first"])["events"]
    assert [e["event"]["event_id"] for e in events].count(event_id.group(1)) == 1


def _unchanged(api: Api, referral_id: str, org: str = "AGENCY-A") -> None:
    assert _state(api, org, referral_id)["state"] == "created"


def test_a_decline_without_a_reason_is_refused_and_says_why(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str]
) -> None:
    csrf = _login(client, tokens["AGENCY-B", "agency-writer"])
    r = _answer(client, csrf, inbox["first"], "decline")
    assert r.status_code == 422
    page = _text(r)
    assert 'role="alert" id="refusal"' in page
    assert "Refused: 422" in page
    assert "<code>reason</code>" in page
    assert "Nothing was recorded." in page
    r = _answer(client, csrf, inbox["first"], "decline", reason="because I say so")
    assert r.status_code == 422
    assert "one of capacity, duplicate, not_eligible" in _text(r)  # the allowed codes
    r = _answer(client, csrf, inbox["first"], "shrug")
    assert (r.status_code, "<code>answer</code>" in _text(r)) == (422, True)
    _unchanged(api, inbox["first"])


def test_answering_twice_is_refused_by_the_contract(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str]
) -> None:
    csrf = _login(client, tokens["AGENCY-B", "agency-writer"])
    assert _answer(client, csrf, inbox["first"], "decline", reason="capacity").status_code == 302
    r = _answer(client, csrf, inbox["first"], "accept")
    assert r.status_code in (409, 422)
    assert f"Refused: {r.status_code}" in _text(r)
    assert _state(api, "AGENCY-B", inbox["first"])["state"] == "declined"


def test_another_agencys_referral_is_not_found(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str]
) -> None:
    """AGENCY-C's referral, and the sender's own outgoing one: neither is in this inbox."""
    csrf = _login(client, tokens["AGENCY-B", "agency-writer"])
    r = _answer(client, csrf, inbox["elsewhere"], "accept")
    assert r.status_code == 404
    assert "Refused: 404" in _text(r)
    assert _answer(client, csrf, str(uuid.uuid4()), "accept").status_code == 404
    _unchanged(api, inbox["elsewhere"])

    client.post("/dashboard/logout", data={"csrf": csrf})
    csrf = _login(client, tokens["AGENCY-A", "agency-writer"])
    assert _answer(client, csrf, inbox["first"], "accept").status_code == 404
    _unchanged(api, inbox["first"])


def test_a_form_without_its_csrf_token_changes_nothing(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str]
) -> None:
    _login(client, tokens["AGENCY-B", "agency-writer"])
    for csrf in ("", "forged-" + "x" * 36):
        r = _answer(client, csrf, inbox["first"], "accept")
        assert r.status_code == 400
        assert "CSRF token is missing or stale" in _text(r)
    _unchanged(api, inbox["first"], "AGENCY-B")


def test_dismissing_what_is_not_a_failed_item_says_so_and_needs_its_form(
    client: FlaskClient, tokens: Tokens
) -> None:
    """This gateway appends as it answers and keeps no outbox: a dismissal is refused
    on the page; without the form's CSRF token it is not even tried; a reader may not."""
    csrf = _login(client, tokens["AGENCY-A", "agency-writer"])
    r = client.post("/dashboard/outbox/1/dismiss", data={"csrf": csrf})
    assert (r.status_code, r.headers["Location"]) == (302, "/dashboard/outbox")
    page = _text(client.get("/dashboard/outbox"))
    assert "Not dismissed: this gateway keeps no outbox" in page
    assert 'id="outbox-empty"' in page
    r = client.post("/dashboard/outbox/1/dismiss", data={"csrf": "forged-" + "x" * 36})
    assert r.status_code == 400
    reader = _login(client, tokens["AGENCY-A", "agency-reader"])
    assert client.post("/dashboard/outbox/1/dismiss", data={"csrf": reader}).status_code == 403


@pytest.mark.parametrize(
    "fault",
    [
        UnavailableError("outbox at /srv/gw/outbox.db: disk I/O error", code="ledger_unavailable"),
        InternalError("outbox at /srv/gw/outbox.db is corrupt", code="contract_failure"),
    ],
)
def test_a_fault_while_dismissing_says_what_the_api_would_and_no_more(
    app: Flask,
    client: FlaskClient,
    tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
    fault: Exception,
) -> None:
    """No dismissal fails this way today (this gateway keeps no outbox, a remote one's
    refusals are the caseworker's to read): the outbox's store failing stands for it.
    Its message is the operator's, and the flash travels in the cookie, readable."""

    def fail(*_: object) -> None:
        raise fault

    csrf = _login(client, tokens["AGENCY-A", "agency-writer"])
    monkeypatch.setattr(outbox_service, "dismiss", fail)
    r = client.post("/dashboard/outbox/1/dismiss", data={"csrf": csrf})
    assert (r.status_code, r.headers["Location"]) == (302, "/dashboard/outbox")
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    interface = app.session_interface
    assert isinstance(interface, SecureCookieSessionInterface)
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None
    assert "/srv/gw" not in str(serializer.loads(cookie.value)["_flashes"])
    page = _text(client.get("/dashboard/outbox"))
    assert "Not dismissed: " in page
    assert "operator is told" in page or "retry later" in page
    assert "/srv/gw" not in page


def test_a_reader_sees_the_inbox_but_cannot_answer(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str]
) -> None:
    csrf = _login(client, tokens["AGENCY-B", "agency-reader"])
    page = _text(client.get("/dashboard/referrals"))
    assert f'id="referral-{inbox["first"]}"' in page
    assert 'id="accept-' not in page
    assert "awaiting an answer" in page
    r = _answer(client, csrf, inbox["first"], "accept")
    assert r.status_code == 403
    _unchanged(api, inbox["first"])


@pytest.mark.parametrize(
    ("org", "role"), [("DONOR-Y", "donor"), ("AUDITOR-X", "auditor"), ("AGENCY-A", "admin")]
)
def test_roles_without_an_inbox_are_refused(
    client: FlaskClient, tokens: Tokens, api: Api, inbox: dict[str, str], org: str, role: str
) -> None:
    csrf = _login(client, tokens[org, role])
    for r in (
        client.get("/dashboard/referrals"),
        client.get("/dashboard/persons"),
        client.post("/dashboard/persons", data={"csrf": csrf, "q": "a"}),
    ):
        assert r.status_code == 403
        assert "<h1>403 Forbidden</h1>" in r.get_data(as_text=True)
    assert _answer(client, csrf, inbox["first"], "accept").status_code == 403
    _unchanged(api, inbox["first"])


@pytest.mark.parametrize(
    "url", ["/dashboard/referrals", "/dashboard/persons", f"/dashboard/persons/{pid()}"]
)
def test_caseworkers_pages_need_a_login(client: FlaskClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/dashboard/login?next=")


def test_answering_needs_a_login(client: FlaskClient, api: Api, inbox: dict[str, str]) -> None:
    r = client.post(f"/dashboard/referrals/{inbox['first']}/answer", data={"answer": "accept"})
    assert r.status_code == 302
    _unchanged(api, inbox["first"])


# --- a person's page and the search leading to it ----------------------------------------


@pytest.fixture
def fatima(api: Api) -> dict[str, str]:
    """Registered at AGENCY-A, referred to AGENCY-B under a consent covering referrals
    only; AGENCY-A also granted her an entitlement and delivered against it, which
    AGENCY-B may not see."""
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    assert r.status_code == 201, r.get_json()
    person = r.get_json()
    consent = consent_granted(
        person["pid"], ["AGENCY-B"], purposes=["referral"], categories=["referrals"]
    )
    referral = referral_created(person["pid"], "AGENCY-B", consent_id=consent["consent_id"])
    grant = entitlement_granted(person["pid"])
    for event in (consent, referral, grant, delivery(grant["entitlement_id"])):
        _post(api, "AGENCY-A", event)
    return {"pid": person["pid"], "person_id": person["person_id"], **referral}


def test_the_person_page_shows_what_consent_allows_and_counts_the_rest(
    client: FlaskClient, tokens: Tokens, api: Api, fatima: dict[str, str]
) -> None:
    history = api.as_("AGENCY-B").get(f"/v1/persons/{fatima['pid']}/history?purpose=referral")
    withheld = history.get_json()["withheld"]
    assert withheld == 2  # her entitlement and its delivery

    _login(client, tokens["AGENCY-B", "agency-writer"])
    inbox = _text(client.get("/dashboard/referrals"))
    assert f'href="/dashboard/persons/{fatima["pid"]}"' in inbox
    r = client.get(f"/dashboard/persons/{fatima['pid']}")
    assert r.status_code == 200
    page = _text(r)
    assert "2 records held back (no consent)" in page
    assert "1 record held back (no consent)" in page  # her open entitlement
    assert "referral.created" in page
    assert "entitlement.granted" not in page
    assert "assistance.delivered" not in page
    assert "Fatima" not in page  # AGENCY-A's registration never reaches AGENCY-B
    assert "Not registered at AGENCY-B." in page
    assert "consent.granted" in page  # AGENCY-B is party to her consent
    assert "<caption>Her events you may see, oldest first (2 shown)</caption>" in page


def test_the_agency_sees_all_of_its_own_records(
    client: FlaskClient, tokens: Tokens, fatima: dict[str, str]
) -> None:
    _login(client, tokens["AGENCY-A", "agency-reader"])
    page = _text(client.get(f"/dashboard/persons/{fatima['pid']}"))
    assert "held back" not in page
    for kind in ("consent.granted", "referral.created", "entitlement.granted", "delivered"):
        assert kind in page
    assert f'<code title="{fatima["person_id"]}">' in page  # her registration here
    assert "<caption>Her open entitlements you may see (1 shown)</caption>" in page


def _search(client: FlaskClient, q: str, cursor: str | None = None) -> Any:
    data = {"csrf": _csrf(client), "q": q} | ({"cursor": cursor} if cursor else {})
    return client.post("/dashboard/persons", data=data)


def test_search_finds_only_the_agencys_own_registrations(
    client: FlaskClient, tokens: Tokens, fatima: dict[str, str]
) -> None:
    _login(client, tokens["AGENCY-A", "agency-writer"])
    page = _text(_search(client, "hassan"))
    assert "given name: <bdi>Fatima</bdi>" in page
    assert f'href="/dashboard/persons/{fatima["pid"]}"' in page
    assert "(1 shown)" in page
    assert "(0 shown)" in _text(_search(client, "nobody-here"))
    client.post("/dashboard/logout", data={"csrf": _csrf(client)})

    _login(client, tokens["AGENCY-B", "agency-writer"])
    page = _text(_search(client, "hassan"))
    assert "Fatima" not in page
    assert "No registration matches." in page


def test_search_terms_are_bounded_on_the_dashboard_too(
    client: FlaskClient, tokens: Tokens, fatima: dict[str, str]
) -> None:
    """Each registration a page reads is compared with the terms: the API's bound holds
    for the dashboard's form as well."""
    _login(client, tokens["AGENCY-A", "agency-writer"])
    refused = _search(client, "hassan" + "x" * 100_000)
    assert refused.status_code == 422
    assert "at most 200 characters" in _text(refused)
    assert "Fatima" not in _text(refused)


def test_search_terms_never_travel_in_a_url(
    client: FlaskClient, tokens: Tokens, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A browser keeps every URL in its history, on field devices caseworkers share: the
    search form posts its terms, its next page posts them again, and a URL's `q` (an
    old bookmark, a link) is not searched for."""
    for i in range(3):
        person = {"given_name": f"Amal{i}", "family_name": "Haddad"}
        assert (
            api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": person}).status_code
            == 201
        )
    monkeypatch.setattr(casework_pages, "PAGE_SIZE", 2)
    _login(client, tokens["AGENCY-A", "agency-writer"])
    form = client.get("/dashboard/persons").get_data(as_text=True)
    assert re.search(r'<form class="inline" method="post" action="/dashboard/persons"', form)

    first = _search(client, "haddad")
    assert first.status_code == 200
    raw = first.get_data(as_text=True)
    assert "haddad" not in "".join(re.findall(r'(?:href|action)="([^"]*)"', raw)).lower()
    cursor = re.search(r'name="cursor" value="([^"]+)"', raw)
    assert cursor is not None
    assert 'name="q" value="haddad"' in raw
    second = _text(_search(client, "haddad", html.unescape(cursor.group(1))))
    assert "Amal2" in second
    assert "Amal0" not in second

    bookmarked = _text(client.get("/dashboard/persons?q=nobody-at-all"))
    assert "All registrations" in bookmarked
    assert "nobody-at-all" not in bookmarked
    refused = client.post("/dashboard/persons", data={"q": "haddad"})  # no CSRF token
    assert refused.status_code == 400
    assert "Amal" not in _text(refused)


def test_search_and_person_pages_escape_what_they_show(
    client: FlaskClient, tokens: Tokens, api: Api
) -> None:
    attack = {"given_name": "<script>alert(1)</script>", "family_name": "X"}
    assert (
        api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": attack}).status_code
        == 201
    )
    _login(client, tokens["AGENCY-A", "agency-writer"])
    raw = _search(client, "script").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    raw = _search(client, "<b>").get_data(as_text=True)
    assert "<b>" not in raw.split("<main>")[1]


@pytest.mark.parametrize("bad", ["not-a-pid", "k1.short", "x" * 300])
def test_a_malformed_pid_is_refused(client: FlaskClient, tokens: Tokens, bad: str) -> None:
    _login(client, tokens["AGENCY-B", "agency-writer"])
    r = client.get(f"/dashboard/persons/{bad}")
    assert r.status_code == 422
    assert "422" in r.get_data(as_text=True)


def test_a_bad_cursor_is_refused(client: FlaskClient, tokens: Tokens) -> None:
    _login(client, tokens["AGENCY-B", "agency-writer"])
    for url in ("/dashboard/referrals?cursor=nope", "/dashboard/persons?cursor=nope"):
        r = client.get(url)
        assert r.status_code == 422
        assert "cursor is not one this list gave" in _text(r)
    r = client.get("/dashboard/referrals?state=lost")
    assert r.status_code == 422
    assert "state is one of accepted, cancelled" in _text(r)


def test_the_audit_log_names_whom_a_caseworker_read_and_answered_for(
    client: FlaskClient, tokens: Tokens, fatima: dict[str, str], tmp_path: Path
) -> None:
    csrf = _login(client, tokens["AGENCY-B", "agency-writer"])
    assert client.get(f"/dashboard/persons/{fatima['pid']}").status_code == 200
    assert _answer(client, csrf, fatima["referral_id"], "accept").status_code == 302
    db = sqlite3.connect(tmp_path / "offchain-AGENCY-B.db")
    try:
        rows = db.execute("SELECT method, route, pid, status FROM audit_log").fetchall()
    finally:
        db.close()
    assert ("GET", "/dashboard/persons/<pid>", fatima["pid"], 200) in rows
    assert ("POST", "/dashboard/referrals/<uuid:referral_id>/answer", fatima["pid"], 302) in rows
