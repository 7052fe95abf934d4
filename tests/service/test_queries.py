"""Reads signed as the caller's organisation: what another agency sees follows consent."""

from __future__ import annotations

from typing import Any

import pytest

from ledger_gw.errors import RejectedError
from ledger_gw.services import events, queries
from ledger_gw.services.gateway import Gateway
from tests.service.conftest import MakeCaller
from tests.support import events as ev


def _types(history: Any) -> list[str]:
    return [e["event"]["type"] for e in history["events"]]


def test_history_follows_consent(gateway: Gateway, caller: MakeCaller) -> None:
    a, c = caller("AGENCY-A"), caller("AGENCY-C")
    person = ev.pid()
    grant = ev.entitlement_granted(person)
    events.submit(gateway, a, grant)
    assert _types(queries.history(gateway, c, person, "deduplication")) == []
    assert queries.entitlements(gateway, c, person, "deduplication")["entitlements"] == []
    consent = ev.consent_granted(person, grantees=["AGENCY-C"], purposes=["deduplication"])
    events.submit(gateway, a, consent)
    seen = queries.history(gateway, c, person, "deduplication")
    assert _types(seen) == ["entitlement.granted", "consent.granted"]
    # For another purpose C sees only the consent that names it.
    assert _types(queries.history(gateway, c, person, "referral")) == ["consent.granted"]
    listed = queries.entitlements(gateway, c, person, "deduplication")["entitlements"]
    assert [e["entitlement_id"] for e in listed] == [grant["entitlement_id"]]
    found = queries.event(gateway, c, grant["event_id"], "deduplication")
    assert found["event"]["event_id"] == grant["event_id"]
    events.submit(gateway, caller("AGENCY-B"), ev.consent_revoked(consent["consent_id"]))
    assert "entitlement.granted" not in _types(queries.history(gateway, c, person, "deduplication"))
    assert queries.consents(gateway, a, person)["consents"][0]["state"] == "revoked"


def test_a_referral_is_read_by_its_parties_and_by_consent(
    gateway: Gateway, caller: MakeCaller
) -> None:
    a, b, c = caller("AGENCY-A"), caller("AGENCY-B"), caller("AGENCY-C")
    person = ev.pid()
    first = ev.referral_created(person)
    events.submit(gateway, a, first)
    events.submit(gateway, b, ev.referral_step("accepted", first["referral_id"]))
    onward = ev.referral_created(person, to_org="AGENCY-C", parent_referral_id=first["referral_id"])
    events.submit(gateway, b, onward)
    assert queries.referral(gateway, a, first["referral_id"], "referral")["state"] == "accepted"
    with pytest.raises(RejectedError) as info:  # as if unknown: not a hint that it exists
        queries.referral(gateway, c, first["referral_id"], "referral")
    assert (info.value.kind, info.value.code) == ("not_found", "referral_not_found")
    chain = queries.referral_chain(gateway, b, onward["referral_id"], "referral")["chain"]
    assert [(link["referral_id"], link["withheld"]) for link in chain] == [
        (onward["referral_id"], False),
        (first["referral_id"], False),
    ]
    chain = queries.referral_chain(gateway, c, onward["referral_id"], "referral")["chain"]
    assert [link["withheld"] for link in chain] == [False, True]  # C is party to one link


def test_an_auditor_reads_without_consent(gateway: Gateway, caller: MakeCaller) -> None:
    person = ev.pid()
    grant = ev.entitlement_granted(person)
    events.submit(gateway, caller("AGENCY-A"), grant)
    auditor = caller("AUDITOR-X", "auditor")
    assert _types(queries.history(gateway, auditor, person, "deduplication")) == [
        "entitlement.granted"
    ]


def test_queries_write_nothing(gateway: Gateway, caller: MakeCaller) -> None:
    a = caller("AGENCY-A")
    events.submit(gateway, a, ev.entitlement_granted(ev.PID))
    size = gateway.ledger.size()
    queries.history(gateway, a, ev.PID, "deduplication")
    queries.consents(gateway, a, ev.PID)
    assert gateway.ledger.size() == size
    with pytest.raises(RejectedError) as info:
        queries.history(gateway, a, ev.PID, "marketing")
    assert info.value.code == "invalid_code"
