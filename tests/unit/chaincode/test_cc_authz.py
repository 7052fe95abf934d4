"""Authorisation matrix: org (sender / receiver-or-granter / third party) x role x event type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cc_support import ORG_A, ORG_B, ORG_C, Ledger

from chaincode.errors import ForbiddenError
from chaincode.stub import ROLES
from tests.support.events import (
    PID,
    consent_granted,
    consent_revoked,
    delivery,
    entitlement_granted,
    entitlement_step,
    referral_created,
    referral_step,
)

Setup = Callable[[Ledger], dict[str, Any]]


def _referral(ledger: Ledger, *steps: str) -> str:
    event = referral_created(to_org=ORG_B)
    ledger.submit(ORG_A, event)
    for step in steps:
        ledger.submit(ORG_B, referral_step(step, event["referral_id"]))
    return str(event["referral_id"])


def _entitlement(ledger: Ledger, *steps: str) -> str:
    event = entitlement_granted()
    ledger.submit(ORG_B, event)
    for step in steps:
        ledger.submit(ORG_B, entitlement_step(step, event["entitlement_id"]))
    return str(event["entitlement_id"])


def _consent(ledger: Ledger) -> str:
    event = consent_granted(grantees=[ORG_B])
    ledger.submit(ORG_A, event)
    return str(event["consent_id"])


ORG_D_TARGET = "DRC"

# event type -> (builds the event in a state where it is legal, who may submit it)
# Orgs: A = referral sender / consent collector, B = receiver / granter, C = third party.
CASES: dict[str, tuple[Setup, set[str]]] = {
    "referral.created": (lambda _: referral_created(to_org=ORG_D_TARGET), {ORG_A, ORG_B, ORG_C}),
    "referral.accepted": (lambda led: referral_step("accepted", _referral(led)), {ORG_B}),
    "referral.declined": (lambda led: referral_step("declined", _referral(led)), {ORG_B}),
    "referral.completed": (
        lambda led: referral_step("completed", _referral(led, "accepted")),
        {ORG_B},
    ),
    "referral.cancelled": (lambda led: referral_step("cancelled", _referral(led)), {ORG_A}),
    "entitlement.granted": (lambda _: entitlement_granted(), {ORG_A, ORG_B, ORG_C}),
    "assistance.delivered": (lambda led: delivery(_entitlement(led)), {ORG_B}),
    "entitlement.suspended": (
        lambda led: entitlement_step("suspended", _entitlement(led)),
        {ORG_B},
    ),
    "entitlement.resumed": (
        lambda led: entitlement_step("resumed", _entitlement(led, "suspended")),
        {ORG_B},
    ),
    "entitlement.revoked": (lambda led: entitlement_step("revoked", _entitlement(led)), {ORG_B}),
    "entitlement.closed": (lambda led: entitlement_step("closed", _entitlement(led)), {ORG_B}),
    "consent.granted": (lambda _: consent_granted(), {ORG_A, ORG_B, ORG_C}),
    "consent.revoked": (lambda led: consent_revoked(_consent(led)), {ORG_A, ORG_B, ORG_C}),
}
DENIAL_CODE = {
    "referral.accepted": "not_receiver",
    "referral.declined": "not_receiver",
    "referral.completed": "not_receiver",
    "referral.cancelled": "not_sender",
}


@pytest.mark.parametrize("event_type", sorted(CASES))
@pytest.mark.parametrize("org", [ORG_A, ORG_B, ORG_C])
@pytest.mark.parametrize("role", ROLES)
def test_matrix(ledger: Ledger, event_type: str, org: str, role: Any) -> None:
    setup, allowed = CASES[event_type]
    event = setup(ledger)
    before = len(ledger.stub.puts)
    if role == "agency" and org in allowed:
        result = ledger.submit(org, event, role=role)
        assert result["type"] == event_type
        assert result["pid"] == PID
        assert len(ledger.stub.puts) > before
        return
    with pytest.raises(ForbiddenError) as info:
        ledger.submit(org, event, role=role)
    expected = (
        "role_forbidden" if role != "agency" else DENIAL_CODE.get(event_type, "not_granting_org")
    )
    assert info.value.code == expected
    assert len(ledger.stub.puts) == before


@pytest.mark.parametrize("org_id", ["sarc", "S", "1SARC", "FATIMA-1987-04-12", ""])
def test_malformed_creator_org_is_refused(ledger: Ledger, org_id: str) -> None:
    with pytest.raises(ForbiddenError) as info:
        ledger.submit(org_id, referral_created())
    assert info.value.code == "invalid_creator"
    assert ledger.stub.puts == []


@pytest.mark.parametrize(
    "function", ["history", "entitlements", "consents", "referral", "referral_chain", "event"]
)
def test_donors_read_no_person_level_data(ledger: Ledger, function: str) -> None:
    event = referral_created()
    ledger.submit(ORG_A, event)
    args = {
        "history": [PID, "referral"],
        "entitlements": [PID, "deduplication"],
        "consents": [PID],
        "referral": [event["referral_id"]],
        "referral_chain": [event["referral_id"]],
        "event": [event["event_id"]],
    }[function]
    with pytest.raises(ForbiddenError) as info:
        ledger.query(ORG_A, function, *args, role="donor")
    assert info.value.code == "role_forbidden"
    assert ledger.query(ORG_A, function, *args, role="auditor")
