"""Idempotent replay (original bytes, no writes), event_id conflicts, determinism."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cc_support import ORG_A, ORG_B, ORG_C, FakeStub, Ledger, dump

from chaincode.contract import QUERY_FUNCTIONS, WRITE_FUNCTIONS, invoke
from chaincode.errors import ConflictError, NotFoundError
from chaincode.store import event_key
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
        (ORG_A, {**referral_created(), "event_id": event["event_id"]}),
    ]:
        with pytest.raises(ConflictError) as info:
            ledger.submit(org, changed)
        assert (info.value.code, info.value.field) == ("event_id_conflict", "event_id")
    assert len(ledger.stub.puts) == puts


def test_another_organisations_event_id_is_judged_on_its_own_content(ledger: Ledger) -> None:
    """Org C cannot probe org A's event IDs: reusing one is no conflict, and C's event
    is judged as any other; A's own replay still answers as before."""
    event = referral_created()
    original = ledger.submit_raw(ORG_A, dump(event))
    # the same event under C's name: refused for what it says (the referral exists),
    # never for its ID
    with pytest.raises(ConflictError) as info:
        ledger.submit(ORG_C, event)
    assert info.value.code == "referral_exists"
    # C's own, different event with A's ID is accepted as C's
    mine = {**referral_created(to_org=ORG_A), "event_id": event["event_id"]}
    accepted = ledger.submit(ORG_C, mine)
    assert accepted["referral_id"] == mine["referral_id"]
    assert json.loads(ledger.submit_raw(ORG_C, dump(mine))) == accepted  # C's own replay
    # A's replay is still A's original, and A's ID still conflicts for A
    assert ledger.submit_raw(ORG_A, dump(event)) == original
    with pytest.raises(ConflictError) as conflict:
        ledger.submit(ORG_A, {**event, "urgency": "emergency"})
    assert conflict.value.code == "event_id_conflict"
    # both events are in the person's history, each under its writer
    history = ledger.query(ORG_A, "history", PID, "referral")["events"]
    assert sorted(r["org"] for r in history if r["event"]["event_id"] == event["event_id"]) == [
        ORG_A,
        ORG_C,
    ]


def test_an_event_id_reads_as_the_callers_own_then_the_one_it_may_read(ledger: Ledger) -> None:
    event = referral_created()  # A refers to B
    ledger.submit(ORG_A, event)
    eid = event["event_id"]
    assert ledger.query(ORG_A, "event", eid)["org"] == ORG_A
    assert ledger.query(ORG_B, "event", eid)["org"] == ORG_A
    with pytest.raises(NotFoundError):  # C may not read A's event: as if unknown
        ledger.query(ORG_C, "event", eid)
    ledger.submit(ORG_C, {**referral_created(), "event_id": eid})  # C refers to B too
    assert ledger.query(ORG_A, "event", eid)["org"] == ORG_A
    assert ledger.query(ORG_C, "event", eid)["org"] == ORG_C
    with pytest.raises(ConflictError) as both:  # B may read both: it is told to tell them apart
        ledger.query(ORG_B, "event", eid)
    assert both.value.code == "event_id_ambiguous"


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


def test_each_write_stores_one_event_record_and_emits_its_key(ledger: Ledger) -> None:
    event = entitlement_granted()
    ledger.submit(ORG_A, event)
    keys = [k for k, _ in ledger.stub.puts]
    assert keys == [
        "\x00entitlement\x00" + event["entitlement_id"] + "\x00",
        f"\x00person\x00{PID}\x00entitlement\x00cash\x00",
        f"\x00person\x00{PID}\x00event\x002025-03-01T09:00:01.000000Z\x00{event['event_id']}"
        f"\x00{ORG_A}\x00",
        f"\x00receipt\x00{event['event_id']}\x00{ORG_A}\x00",
    ]
    assert json.loads(ledger.stub.state[keys[2]])["event"] == event
    name, payload = ledger.stub.events[-1]
    assert name == "entitlement.granted"
    named = json.loads(payload)
    assert event_key(named["pid"], named["timestamp"], named["event_id"], named["org"]) == keys[2]


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
