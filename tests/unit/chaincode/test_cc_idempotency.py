"""Idempotent replay (original bytes, no writes), event_id conflicts, determinism."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cc_support import ORG_A, ORG_B, ORG_C, FakeStub, Ledger, dump

from chaincode.contract import QUERY_FUNCTIONS, WRITE_FUNCTIONS, invoke
from chaincode.errors import ConflictError
from chaincode.stub import Identity
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


def test_public_surface() -> None:
    assert frozenset({"submit"}) == WRITE_FUNCTIONS
    assert (
        frozenset(
            {
                "history",
                "entitlements",
                "referral",
                "referral_chain",
                "consents",
                "event",
                "referrals",
            }
        )
        == QUERY_FUNCTIONS
    )


def test_replay_returns_original_bytes_and_writes_nothing(ledger: Ledger) -> None:
    event = referral_created()
    first = ledger.submit_raw(ORG_A, dump(event))
    puts, events = len(ledger.stub.puts), len(ledger.stub.events)
    # Later transaction, different tx_id/time, same event in another key order/spacing.
    reordered = json.dumps(dict(reversed(list(event.items()))), indent=2).encode()
    assert ledger.submit_raw(ORG_A, reordered) == first
    assert ledger.submit_raw(ORG_A, dump(event)) == first
    assert (len(ledger.stub.puts), len(ledger.stub.events)) == (puts, events)
    assert json.loads(first)["tx_id"] == "tx000001"


def test_replay_after_state_moved_on(ledger: Ledger) -> None:
    ref = referral_created()
    ledger.submit(ORG_A, ref)
    accept = referral_step("accepted", ref["referral_id"])
    original = ledger.submit_raw(ORG_B, dump(accept))
    ledger.submit(ORG_B, referral_step("completed", ref["referral_id"]))
    puts = len(ledger.stub.puts)
    # Accepting again would be an illegal transition; the replay is still the original.
    assert ledger.submit_raw(ORG_B, dump(accept)) == original
    assert len(ledger.stub.puts) == puts


def test_replay_of_duplicate_flagged_grant(ledger: Ledger) -> None:
    ledger.submit(ORG_A, entitlement_granted())
    second = entitlement_granted()
    original = ledger.submit_raw(ORG_B, dump(second))
    assert json.loads(original)["possible_duplicate_of"] != []
    assert ledger.submit_raw(ORG_B, dump(second)) == original


def test_conflicting_reuse_of_event_id(ledger: Ledger) -> None:
    event = referral_created()
    ledger.submit(ORG_A, event)
    puts = len(ledger.stub.puts)
    for org, changed in [
        (ORG_A, {**event, "urgency": "emergency"}),
        (ORG_C, event),
        (ORG_A, {**referral_created(), "event_id": event["event_id"]}),
    ]:
        with pytest.raises(ConflictError) as info:
            ledger.submit(org, changed)
        assert (info.value.code, info.value.field) == ("event_id_conflict", "event_id")
    assert len(ledger.stub.puts) == puts


def test_failed_transaction_writes_nothing(ledger: Ledger) -> None:
    eid = entitlement_granted(amount="100")
    ledger.submit(ORG_A, eid)
    puts = len(ledger.stub.puts)
    bad = delivery(eid["entitlement_id"], amount="1000")
    with pytest.raises(Exception):  # noqa: B017, PT011 - any ContractError
        ledger.submit(ORG_A, bad)
    assert len(ledger.stub.puts) == puts
    # The event_id was not consumed: a corrected event with it goes through.
    assert ledger.submit(ORG_A, {**bad, "amount": "100"})["remaining"] == "0"


def test_each_write_stores_one_event_record_and_emits_it(ledger: Ledger) -> None:
    event = entitlement_granted()
    ledger.submit(ORG_A, event)
    keys = [k for k, _ in ledger.stub.puts]
    assert keys == [
        "\x00entitlement\x00" + event["entitlement_id"] + "\x00",
        f"\x00person\x00{PID}\x00entitlement\x00cash\x00{event['entitlement_id']}\x00",
        f"\x00person\x00{PID}\x00event\x002025-03-01T09:00:01.000000Z\x00{event['event_id']}\x00",
        "\x00receipt\x00" + event["event_id"] + "\x00",
    ]
    name, payload = ledger.stub.events[-1]
    assert name == "entitlement.granted"
    assert payload == ledger.stub.state[keys[2]]
    assert json.loads(payload)["event"] == event


def test_timestamps_are_normalised_to_utc(ledger: Ledger) -> None:
    plus3 = timezone(timedelta(hours=3))
    result = ledger.submit(ORG_A, referral_created(), at=datetime(2025, 3, 1, 2, 30, tzinfo=plus3))
    assert result["timestamp"] == "2025-02-28T23:30:00.000000Z"


def scenario() -> list[tuple[str, dict[str, Any]]]:
    ref = referral_created()
    ent = entitlement_granted()
    con = consent_granted(grantees=["*"])
    return [
        (ORG_A, con),
        (ORG_A, ref),
        (ORG_B, referral_step("accepted", ref["referral_id"])),
        (ORG_B, referral_created(to_org=ORG_C, parent_referral_id=ref["referral_id"])),
        (ORG_A, ent),
        (ORG_C, entitlement_granted()),
        (ORG_A, delivery(ent["entitlement_id"], amount="33.3")),
        (ORG_A, entitlement_step("suspended", ent["entitlement_id"])),
        (ORG_C, consent_revoked(con["consent_id"])),
        (ORG_A, ref),  # replay
    ]


def run(txs: list[tuple[str, dict[str, Any]]]) -> tuple[FakeStub, list[bytes]]:
    stub = FakeStub()
    results = []
    for n, (org, event) in enumerate(txs):
        stub.tx_id = f"t{n}"
        stub.tx_timestamp = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(minutes=n)
        stub.creator = Identity(org, "agency")
        results.append(invoke(stub, "submit", [dump(event)]))
    stub.creator = Identity(ORG_C, "auditor")
    for function, args in [
        ("history", [PID, "referral"]),
        ("entitlements", [PID, "deduplication"]),
        ("consents", [PID]),
    ]:
        results.append(invoke(stub, function, [a.encode() for a in args]))
    return stub, results


def test_determinism() -> None:
    txs = scenario()
    one, results_one = run(txs)
    two, results_two = run(txs)
    assert results_one == results_two
    assert one.puts == two.puts
    assert sorted(one.state.items()) == sorted(two.state.items())
    assert one.events == two.events
    assert len(one.events) == 9
