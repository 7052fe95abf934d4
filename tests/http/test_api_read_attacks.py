"""Attacks on consent-gated reads over HTTP: AGENCY-B reading what AGENCY-A wrote about
her, through every route that shows a person's records, under consents that must not
open them. Real gateway, SQLite ledger, witnesses and tokens behind Flask's test client.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from api_helpers import Api, dashboard_login
from flask.testing import FlaskClient

from ledger_gw.errors import ForbiddenError
from ledger_gw.services import credentials
from ledger_gw.services.gateway import Gateway
from tests.http.test_credentials import as_
from tests.support import events as ev
from tests.support.witnesses import settled

PURPOSES = ("referral", "deduplication", "service_continuity")


def _posted(api: Api, org: str, event: dict[str, Any]) -> dict[str, Any]:
    r = api.as_(org).post("/v1/events", json=event)
    assert r.status_code == 201, r.get_json()
    out: dict[str, Any] = r.get_json()
    return out


def a_writes(api: Api, person: str) -> dict[str, dict[str, Any]]:
    """A refers her to C (C accepts), grants her cash and delivers some: each event's
    result, by name."""
    referral = ev.referral_created(person, "AGENCY-C")
    grant = ev.entitlement_granted(person)
    written = {
        "referral": _posted(api, "AGENCY-A", referral),
        "accepted": _posted(api, "AGENCY-C", ev.referral_step("accepted", referral["referral_id"])),
        "grant": _posted(api, "AGENCY-A", grant),
        "delivery": _posted(api, "AGENCY-A", ev.delivery(grant["entitlement_id"])),
    }
    written["referral"]["referral_id"] = referral["referral_id"]
    return written


def b_sees(api: Api, person: str, written: dict[str, dict[str, Any]], purpose: str) -> set[str]:
    """The names of A's records B reads, through any route, for `purpose`."""
    b = api.as_("AGENCY-B", "agency-reader")
    seen: set[str] = set()
    by_event = {w["event_id"]: name for name, w in written.items()}
    by_tx = {w["tx_id"]: name for name, w in written.items()}
    history = b.get(f"/v1/persons/{person}/history?purpose={purpose}").get_json()
    shown = [r["event"]["event_id"] for r in history["events"]]
    seen |= {by_event[e] for e in shown if e in by_event}  # not the consents naming B
    open_ones = b.get(f"/v1/persons/{person}/entitlements?purpose={purpose}").get_json()
    seen |= {"open grant" for _ in open_ones["entitlements"]}
    for name, result in written.items():
        if b.get(f"/v1/events/{result['event_id']}?purpose={purpose}").status_code == 200:
            seen.add(f"event {name}")
        proof = b.get(f"/v1/proofs/inclusion?tx_id={result['tx_id']}&purpose={purpose}")
        assert proof.status_code == 200
        if "entry" in proof.get_json():
            seen.add(f"entry {by_tx[result['tx_id']]}")
    rid = written["referral"]["referral_id"]
    for route in (f"/v1/referrals/{rid}", f"/v1/referrals/{rid}/chain"):
        r = b.get(f"{route}?purpose={purpose}")
        assert r.status_code in (200, 404)
        if r.status_code == 200:
            seen.add(route.rsplit("/", 1)[-1] if route.endswith("chain") else "referral")
    return seen


def test_consents_c_or_b_recorded_open_nothing_a_wrote(api: Api) -> None:
    """C received A's referral and wrote its acceptance; B records a consent naming
    itself. Neither consent shares anything A answers for, on any route, for any
    purpose; a withheld event, referral or chain is 404 like one never written."""
    person = ev.pid()
    written = a_writes(api, person)
    for recorder in ("AGENCY-C", "AGENCY-B"):
        _posted(api, recorder, ev.consent_granted(person, grantees=["*"]))
        _posted(api, recorder, ev.consent_granted(person, grantees=["AGENCY-B"]))
    for purpose in PURPOSES:
        assert b_sees(api, person, written, purpose) == set()
    b = api.as_("AGENCY-B", "agency-reader")
    history = b.get(f"/v1/persons/{person}/history?purpose=referral").get_json()
    assert history["withheld"] == 4  # that they exist, not what they are
    rid = written["referral"]["referral_id"]
    for known, unknown in (
        (f"/v1/events/{written['grant']['event_id']}", f"/v1/events/{ev.uid()}"),
        (f"/v1/referrals/{rid}", f"/v1/referrals/{ev.uid()}"),
        (f"/v1/referrals/{rid}/chain", f"/v1/referrals/{ev.uid()}/chain"),
    ):
        hidden, missing = (b.get(f"{url}?purpose=referral") for url in (known, unknown))
        assert hidden.status_code == missing.status_code == 404
        assert {k: v for k, v in hidden.get_json().items() if k != "instance"} == {
            k: v for k, v in missing.get_json().items() if k != "instance"
        }


def test_a_s_consent_opens_its_purpose_and_categories_only(api: Api) -> None:
    person = ev.pid()
    written = a_writes(api, person)
    _posted(
        api,
        "AGENCY-A",
        ev.consent_granted(
            person, grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
        ),
    )
    referral_records = {
        "referral",
        "accepted",  # C's event on A's referral: shared under A's consent
        "event referral",
        "event accepted",
        "entry referral",
        "entry accepted",
        "chain",
    }
    assert b_sees(api, person, written, "referral") == referral_records
    assert b_sees(api, person, written, "deduplication") == set()
    _posted(
        api,
        "AGENCY-A",
        ev.consent_granted(
            person, grantees=["*"], purposes=["deduplication"], categories=["entitlements"]
        ),
    )
    assert b_sees(api, person, written, "deduplication") == {
        "grant",
        "open grant",
        "event grant",
        "entry grant",
    }


def test_a_withdrawn_consent_closes_every_route_at_once(api: Api) -> None:
    person = ev.pid()
    written = a_writes(api, person)
    consent = ev.consent_granted(person, grantees=["AGENCY-B"])
    _posted(api, "AGENCY-A", consent)
    assert len(b_sees(api, person, written, "referral")) > 0
    _posted(api, "AGENCY-C", ev.consent_revoked(consent["consent_id"]))  # anywhere she asks
    for purpose in PURPOSES:
        assert b_sees(api, person, written, purpose) == set()


@pytest.mark.parametrize(
    "query",
    ["purpose=Referral", "purpose=REFERRAL", "purpose=", "purpose=referral%00", "purpose=x"],
)
def test_a_purpose_outside_the_vocabulary_is_422_on_every_route(api: Api, query: str) -> None:
    person = ev.pid()
    written = a_writes(api, person)
    _posted(api, "AGENCY-A", ev.consent_granted(person, grantees=["AGENCY-B"]))
    b = api.as_("AGENCY-B", "agency-reader")
    rid = written["referral"]["referral_id"]
    for route in (
        f"/v1/persons/{person}/history",
        f"/v1/persons/{person}/entitlements",
        f"/v1/events/{written['grant']['event_id']}",
        f"/v1/referrals/{rid}",
        f"/v1/referrals/{rid}/chain",
        f"/v1/proofs/inclusion?index=0&{query}",
    ):
        url = route if "?" in route else f"{route}?{query}"
        r = b.get(url)
        assert (r.status_code, r.get_json()["field"]) == (422, "purpose"), url


def test_a_purpose_given_twice_reads_under_the_one_echoed(api: Api) -> None:
    """Her consent covers deduplication only: a purpose given twice is read as the one
    the answer names, never as the wider of the two."""
    person = ev.pid()
    a_writes(api, person)
    _posted(
        api,
        "AGENCY-A",
        ev.consent_granted(person, grantees=["AGENCY-B"], purposes=["deduplication"]),
    )
    b = api.as_("AGENCY-B", "agency-reader")
    for query in (
        "purpose=referral&purpose=deduplication",
        "purpose=deduplication&purpose=referral",
    ):
        out = b.get(f"/v1/persons/{person}/history?{query}").get_json()
        shown = [r for r in out["events"] if r["org"] == "AGENCY-A"]
        assert (len(shown) == 4) == (out["purpose"] == "deduplication"), query


def test_an_event_or_entry_asked_for_without_a_purpose_is_own_or_party_only(api: Api) -> None:
    person = ev.pid()
    written = a_writes(api, person)
    _posted(api, "AGENCY-A", ev.consent_granted(person, grantees=["AGENCY-B", "AGENCY-C"]))
    b, c = (api.as_(org, "agency-reader") for org in ("AGENCY-B", "AGENCY-C"))
    for result in written.values():
        assert b.get(f"/v1/events/{result['event_id']}").status_code == 404
        proof = b.get(f"/v1/proofs/inclusion?tx_id={result['tx_id']}").get_json()
        assert "entry" not in proof
    # C, the referral's receiver, reads A's event on it with no purpose: it is a party.
    tx_id = written["referral"]["tx_id"]
    entry = base64.b64decode(c.get(f"/v1/proofs/inclusion?tx_id={tx_id}").get_json()["entry"])
    assert person.encode() in entry


def test_the_person_page_shows_b_nothing_under_another_member_s_consent(
    client: FlaskClient, api: Api, tokens: dict[tuple[str, str], str]
) -> None:
    person = ev.pid()
    written = a_writes(api, person)
    _posted(api, "AGENCY-C", ev.consent_granted(person, grantees=["AGENCY-B"]))
    dashboard_login(client, tokens["AGENCY-B", "agency-reader"])
    page = client.get(f"/dashboard/persons/{person}").get_data(as_text=True)
    assert "4 records held back" in page
    for result in written.values():
        for ident in (result.get("referral_id"), result.get("entitlement_id")):
            if ident:
                assert ident[:8] not in page


def test_a_credential_s_status_needs_the_issuer_s_consent(gateway: Gateway) -> None:
    """A's card shown to B: its status online only under a consent A recorded."""
    person = ev.pid()
    grant = ev.entitlement_granted(person)
    a, b, c = (as_(gateway, org) for org in ("AGENCY-A", "AGENCY-B", "AGENCY-C"))
    gateway.client(a).submit(grant)
    settled(gateway.ledger)
    text = credentials.issue(gateway, a, grant["event_id"], "referral", []).credential.text()
    gateway.client(c).submit(ev.consent_granted(person, grantees=["AGENCY-B"]))
    gateway.client(b).submit(ev.consent_granted(person, grantees=["AGENCY-B"]))
    for purpose in PURPOSES:
        with pytest.raises(ForbiddenError) as caught:
            credentials.verify(gateway, b, text.encode(), purpose)
        assert caught.value.code == "credential_status_unknown"
    gateway.client(a).submit(
        ev.consent_granted(person, grantees=["AGENCY-B"], purposes=["referral"])
    )
    assert credentials.verify(gateway, b, text.encode(), "referral")["status"] == "active"
