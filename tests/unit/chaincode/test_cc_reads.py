"""What the contract asks its stub for, request by request: on Fabric each request is a
round trip to the peer, and a peer that takes several keys at once (Fabric 3.1) gets
what an event's handler reads first, with the event's receipt, in one."""

from __future__ import annotations

import json

from cc_support import ORG_A, ORG_B, Ledger

from chaincode.contract import keys_read_first
from chaincode.store import (
    consent_key,
    entitlement_key,
    open_entitlements_key,
    receipt_key,
    referral_key,
)
from tests.support.events import (
    PID,
    consent_granted,
    delivery,
    entitlement_granted,
    entitlement_step,
    referral_created,
    referral_step,
)


def _requests(ledger: Ledger) -> list[list[str]]:
    """The keys of each request the contract makes from now on, in order."""
    asked: list[list[str]] = []
    state = ledger.stub.state

    def get_state(key: str) -> bytes | None:
        asked.append([key])
        return state.get(key)

    def get_states(keys: list[str]) -> list[bytes | None]:
        asked.append(list(keys))
        return [state.get(key) for key in keys]

    ledger.stub.get_state = get_state  # type: ignore[method-assign]
    ledger.stub.get_states = get_states  # type: ignore[method-assign]
    return asked


def test_a_grant_asks_once_for_its_receipt_its_id_and_her_open_entitlements(
    ledger: Ledger,
) -> None:
    event = entitlement_granted()
    asked = _requests(ledger)
    ledger.submit(ORG_A, event)
    assert asked == [
        [
            receipt_key(event["event_id"], ORG_A),
            entitlement_key(event["entitlement_id"]),
            open_entitlements_key(PID, event["assistance_type"]),
        ]
    ]


def test_a_continuing_grant_asks_for_the_continued_entitlement_in_the_same_request(
    ledger: Ledger,
) -> None:
    first = entitlement_granted()
    ledger.submit(ORG_A, first)
    event = entitlement_granted(continues_entitlement_id=first["entitlement_id"])
    asked = _requests(ledger)
    ledger.submit(ORG_A, event)
    assert asked == [
        [
            receipt_key(event["event_id"], ORG_A),
            entitlement_key(event["entitlement_id"]),
            entitlement_key(first["entitlement_id"]),
            open_entitlements_key(PID, event["assistance_type"]),
        ]
    ]


def test_a_delivery_asks_once_and_a_closing_step_once_more_for_the_index(
    ledger: Ledger,
) -> None:
    granted = entitlement_granted()
    ledger.submit(ORG_A, granted)
    entitlement = entitlement_key(granted["entitlement_id"])
    paid = delivery(granted["entitlement_id"])
    asked = _requests(ledger)
    ledger.submit(ORG_A, paid)
    assert asked == [[receipt_key(paid["event_id"], ORG_A), entitlement]]
    closed = entitlement_step("closed", granted["entitlement_id"])
    asked.clear()
    ledger.submit(ORG_A, closed)
    # Her index is named by the entitlement's person and type: known once it is read.
    index = open_entitlements_key(PID, granted["assistance_type"])
    assert asked == [[receipt_key(closed["event_id"], ORG_A), entitlement], [index]]


def test_a_referral_asks_once_for_itself_its_parent_and_the_consent_it_cites(
    ledger: Ledger,
) -> None:
    consent = consent_granted(grantees=[ORG_B], purposes=["referral"])
    ledger.submit(ORG_A, consent)
    parent = referral_created(to_org=ORG_A)
    ledger.submit(ORG_B, parent)
    ledger.submit(ORG_A, referral_step("accepted", parent["referral_id"]))
    child = referral_created(
        parent_referral_id=parent["referral_id"], consent_id=consent["consent_id"]
    )
    asked = _requests(ledger)
    ledger.submit(ORG_A, child)
    assert asked == [
        [
            receipt_key(child["event_id"], ORG_A),
            referral_key(child["referral_id"]),
            referral_key(parent["referral_id"]),
            consent_key(consent["consent_id"]),
        ]
    ]


def test_a_resubmitted_event_asks_the_same_once_and_writes_nothing(ledger: Ledger) -> None:
    event = entitlement_granted()
    original = ledger.submit(ORG_A, event)
    writes = len(ledger.stub.puts)
    asked = _requests(ledger)
    assert ledger.submit(ORG_A, event) == original
    assert len(asked) == 1
    assert len(ledger.stub.puts) == writes


def test_a_reader_can_learn_the_first_reads_without_running_the_contract(
    ledger: Ledger,
) -> None:
    """What a database-backed ledger fetches with its head: the same keys as the
    contract's own first request, from the call alone; nothing for anything else."""
    event = entitlement_granted()
    raw = json.dumps(event).encode()
    asked = _requests(ledger)
    ledger.submit(ORG_A, event)
    assert keys_read_first(ORG_A, "submit", [raw]) == asked[0]
    assert keys_read_first(ORG_A, "history", [PID.encode(), b"deduplication"]) == []
    assert keys_read_first(ORG_A, "submit", [b'{"type": "entitlement.granted"}']) == []
    assert keys_read_first(ORG_A, "submit", [raw, raw]) == []
