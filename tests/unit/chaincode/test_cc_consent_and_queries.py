"""Consent lifecycle and consent-gated reads: who sees which of a person's records."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from cc_support import ORG_A, ORG_B, ORG_C, ORG_D, START, Ledger

from chaincode import consent, fields
from chaincode.errors import (
    ConflictError,
    NotFoundError,
    TransitionError,
    ValidationError,
)
from tests.support.events import (
    PID,
    PID_2,
    consent_granted,
    consent_revoked,
    delivery,
    entitlement_granted,
    referral_created,
    referral_step,
    uid,
)


def person_with_records(ledger: Ledger) -> dict[str, Any]:
    """A refers PID to B (accepted); A grants cash and delivers some."""
    ref = referral_created(to_org=ORG_B)
    ledger.submit(ORG_A, ref)
    ledger.submit(ORG_B, referral_step("accepted", ref["referral_id"]))
    ent = entitlement_granted()
    ledger.submit(ORG_A, ent)
    ledger.submit(ORG_A, delivery(ent["entitlement_id"]))
    ledger.submit(ORG_A, entitlement_granted(pid=PID_2))
    return {"referral": ref, "entitlement": ent}


def visible_types(ledger: Ledger, org: str, purpose: str, **kw: Any) -> list[str]:
    out = ledger.query(org, "history", PID, purpose, **kw)
    assert out["pid"] == PID
    assert out["purpose"] == purpose
    return [e["event"]["type"] for e in out["events"]]


ALL_A = ["referral.created", "referral.accepted", "entitlement.granted", "assistance.delivered"]


def test_consent_grant_and_revoke(ledger: Ledger) -> None:
    event = consent_granted(
        grantees=sorted([ORG_B, ORG_C]),
        purposes=["referral", "deduplication"],
        expires="2026-03-01",
    )
    result = ledger.submit(ORG_A, event)
    assert result == {
        "event_id": event["event_id"],
        "type": "consent.granted",
        "tx_id": "tx000001",
        "timestamp": "2025-03-01T09:00:01.000000Z",
        "pid": PID,
        "consent_id": event["consent_id"],
        "state": "granted",
    }
    listed = ledger.query(ORG_B, "consents", PID)
    assert listed == {
        "pid": PID,
        "consents": [
            {
                "consent_id": event["consent_id"],
                "pid": PID,
                "collected_by": ORG_A,
                "grantees": sorted([ORG_B, ORG_C]),
                "purposes": ["deduplication", "referral"],
                "data_categories": ["assistance", "consent", "entitlements", "referrals"],
                "lawful_basis": "consent",
                "expires": "2026-03-01",
                "form_hash": event["form_hash"],
                "state": "granted",
                "granted_at": "2025-03-01T09:00:01.000000Z",
                "revoked_at": None,
                "revoked_by": None,
                "revoke_reason": None,
                "active": True,
            }
        ],
    }
    # Any agency may record the withdrawal; twice is a transition error.
    ledger.submit(ORG_D, consent_revoked(event["consent_id"], reason="person_request"))
    with pytest.raises(TransitionError) as info:
        ledger.submit(ORG_A, consent_revoked(event["consent_id"]))
    assert info.value.code == "invalid_transition"
    after = ledger.query(ORG_A, "consents", PID)["consents"][0]
    assert (after["state"], after["active"], after["revoked_by"], after["revoke_reason"]) == (
        "revoked",
        False,
        ORG_D,
        "person_request",
    )
    # The agency that recorded her withdrawal learns no more of the consent than that: not
    # whom it named, nor for what. The withdrawal is its own event.
    assert ledger.query(ORG_D, "consents", PID)["consents"] == []
    history = ledger.query(ORG_D, "history", PID, "referral")["events"]
    assert [r["event"]["type"] for r in history] == ["consent.revoked"]


def test_consents_are_visible_to_parties_only(ledger: Ledger) -> None:
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_B]))
    assert len(ledger.query(ORG_A, "consents", PID)["consents"]) == 1
    assert len(ledger.query(ORG_B, "consents", PID)["consents"]) == 1
    assert ledger.query(ORG_C, "consents", PID)["consents"] == []
    assert len(ledger.query(ORG_C, "consents", PID, role="auditor")["consents"]) == 1
    ledger.submit(ORG_A, consent_granted(grantees=["*"]))
    assert len(ledger.query(ORG_C, "consents", PID)["consents"]) == 1


def test_consent_expiry_must_be_after_tx_date(ledger: Ledger) -> None:
    with pytest.raises(ValidationError) as info:
        ledger.submit(ORG_A, consent_granted(expires="2025-03-01"))
    assert (info.value.code, info.value.field) == ("invalid_value", "expires")
    ledger.submit(ORG_A, consent_granted(expires="2025-03-02"))


def test_consent_errors(ledger: Ledger) -> None:
    event = consent_granted()
    ledger.submit(ORG_A, event)
    with pytest.raises(ConflictError):
        ledger.submit(ORG_A, consent_granted(consent_id=event["consent_id"]))
    with pytest.raises(NotFoundError):
        ledger.submit(ORG_A, consent_revoked("00000000-0000-4000-8000-999999999999"))


def test_own_events_and_parties(ledger: Ledger) -> None:
    person_with_records(ledger)
    assert visible_types(ledger, ORG_A, "deduplication") == ALL_A
    # B is the referral's receiver: it sees both referral events, nothing else of A's.
    assert visible_types(ledger, ORG_B, "referral") == ["referral.created", "referral.accepted"]
    assert visible_types(ledger, ORG_C, "deduplication") == []
    assert visible_types(ledger, ORG_C, "deduplication", role="auditor") == ALL_A


@pytest.mark.parametrize(
    ("consent_kw", "purpose", "expected"),
    [
        ({"grantees": [ORG_C]}, "deduplication", ALL_A),
        ({"grantees": ["*"]}, "deduplication", ALL_A),
        ({"grantees": sorted([ORG_B, ORG_D])}, "deduplication", []),  # other grantee
        ({"grantees": [ORG_C], "purposes": ["referral"]}, "deduplication", []),  # other purpose
        ({"grantees": [ORG_C], "purposes": ["referral"]}, "referral", ALL_A),
        (
            {"grantees": [ORG_C], "data_categories": ["entitlements"]},
            "deduplication",
            ["entitlement.granted"],
        ),
        (
            {"grantees": [ORG_C], "data_categories": ["referrals", "assistance"]},
            "deduplication",
            ["referral.created", "referral.accepted", "assistance.delivered"],
        ),
        ({"grantees": [ORG_C], "pid": PID_2}, "deduplication", []),  # about someone else
    ],
)
def test_consent_gating(
    ledger: Ledger, consent_kw: dict[str, Any], purpose: str, expected: list[str]
) -> None:
    person_with_records(ledger)
    ledger.submit(ORG_A, consent_granted(**consent_kw))
    shown = [t for t in visible_types(ledger, ORG_C, purpose) if not t.startswith("consent.")]
    assert shown == expected


@pytest.mark.parametrize("recorder", [ORG_C, ORG_D], ids=["the reader itself", "a third member"])
def test_a_consent_unlocks_only_what_its_recorder_wrote(ledger: Ledger, recorder: str) -> None:
    """A member that derives her pseudonymous ID from a name and a birth date, and
    records a consent naming itself, must not read what other agencies wrote about her:
    that consent is its own word, and shares only its own records."""
    person_with_records(ledger)
    ledger.submit(recorder, consent_granted(grantees=["*"]))
    shown = [
        t for t in visible_types(ledger, ORG_C, "deduplication") if not t.startswith("consent.")
    ]
    assert shown == []
    assert ledger.query(ORG_C, "history", PID, "deduplication")["withheld"] == len(ALL_A)
    assert ledger.query(ORG_C, "entitlements", PID, "deduplication")["entitlements"] == []
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_C]))  # what A recorded shares A's
    shown = [
        t for t in visible_types(ledger, ORG_C, "deduplication") if not t.startswith("consent.")
    ]
    assert shown == ALL_A


def test_revoked_and_expired_consent_hide_again(ledger: Ledger) -> None:
    person_with_records(ledger)
    consent = consent_granted(grantees=[ORG_C], expires="2025-04-01")
    ledger.submit(ORG_A, consent)
    day_before = START + timedelta(days=30, hours=14, minutes=59)  # 2025-03-31 23:59 UTC
    on_expiry = START + timedelta(days=30, hours=15)  # 2025-04-01 00:00 UTC
    assert "entitlement.granted" in visible_types(ledger, ORG_C, "deduplication", at=day_before)
    # C still sees the consent record itself (it is a grantee), nothing else.
    assert visible_types(ledger, ORG_C, "deduplication", at=on_expiry) == ["consent.granted"]
    ledger.submit(ORG_B, consent_revoked(consent["consent_id"]))
    assert visible_types(ledger, ORG_C, "deduplication") == ["consent.granted", "consent.revoked"]


def test_entitlements_query_is_gated(ledger: Ledger) -> None:
    person_with_records(ledger)
    assert ledger.query(ORG_C, "entitlements", PID, "deduplication")["entitlements"] == []
    ledger.submit(
        ORG_A,
        consent_granted(grantees=[ORG_C], purposes=["deduplication"], categories=["entitlements"]),
    )
    assert len(ledger.query(ORG_C, "entitlements", PID, "deduplication")["entitlements"]) == 1
    assert ledger.query(ORG_C, "entitlements", PID, "referral")["entitlements"] == []


def test_what_was_delivered_needs_consent_to_assistance(ledger: Ledger) -> None:
    """Her consent covers her entitlements, not her assistance: another agency sees the
    entitlement, not what was delivered against it, nor when (a delivery updates it)."""
    ent = person_with_records(ledger)["entitlement"]
    ledger.submit(
        ORG_A,
        consent_granted(grantees=[ORG_C], purposes=["deduplication"], categories=["entitlements"]),
    )
    (seen,) = ledger.query(ORG_C, "entitlements", PID, "deduplication")["entitlements"]
    assert (seen["entitlement_id"], seen["amount"]) == (ent["entitlement_id"], ent["amount"])
    assert (seen["delivered"], seen["remaining"], seen["updated_at"]) == (None, None, None)
    (own,) = ledger.query(ORG_A, "entitlements", PID, "deduplication")["entitlements"]
    assert own["delivered"] == "50"
    ledger.submit(
        ORG_A,
        consent_granted(grantees=[ORG_C], purposes=["deduplication"], categories=["assistance"]),
    )
    (seen,) = ledger.query(ORG_C, "entitlements", PID, "deduplication")["entitlements"]
    assert (seen["delivered"], seen["remaining"]) == (own["delivered"], own["remaining"])


def test_event_query(ledger: Ledger) -> None:
    records = person_with_records(ledger)
    ent = records["entitlement"]
    record = ledger.query(ORG_A, "event", ent["event_id"])
    assert record == {
        "event": ent,
        "org": ORG_A,
        "tx_id": "tx000003",
        "timestamp": "2025-03-01T09:00:03.000000Z",
        "category": "entitlements",
        "pid": PID,
    }
    # The contract event names the record (its key's parts), it does not copy it.
    name, payload = ledger.stub.events[2]
    assert name == "entitlement.granted"
    assert json.loads(payload) == {
        "event_id": ent["event_id"],
        "org": ORG_A,
        "pid": PID,
        "timestamp": "2025-03-01T09:00:03.000000Z",
    }
    with pytest.raises(NotFoundError) as info:  # as if unknown: not a hint that it exists
        ledger.query(ORG_C, "event", ent["event_id"])
    assert info.value.code == "event_not_found"
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_C], purposes=["deduplication"]))
    with pytest.raises(NotFoundError):
        ledger.query(ORG_C, "event", ent["event_id"], "referral")
    assert ledger.query(ORG_C, "event", ent["event_id"], "deduplication") == record
    with pytest.raises(NotFoundError):
        ledger.query(ORG_A, "event", "00000000-0000-4000-8000-999999999999")


def test_referral_query_is_gated(ledger: Ledger) -> None:
    ref = person_with_records(ledger)["referral"]
    with pytest.raises(NotFoundError) as info:  # as if unknown: not a hint that it exists
        ledger.query(ORG_C, "referral", ref["referral_id"])
    assert info.value.code == "referral_not_found"
    with pytest.raises(NotFoundError) as unknown:
        ledger.query(ORG_C, "referral", "00000000-0000-4000-8000-999999999999")
    assert unknown.value.to_dict() == info.value.to_dict()
    assert (
        ledger.query(ORG_C, "referral", ref["referral_id"], role="auditor")["state"] == "accepted"
    )


def test_referral_chain_with_withheld_link(ledger: Ledger) -> None:
    """A -> B (r1), B -> C continues it (r2), C -> D (r3). D sees its own, and that it
    has a parent it may not see; not the rest (r1's ID is a field of r2)."""
    r1 = referral_created(to_org=ORG_B)
    ledger.submit(ORG_A, r1)
    ledger.submit(ORG_B, referral_step("accepted", r1["referral_id"]))
    r2 = referral_created(to_org=ORG_C, parent_referral_id=r1["referral_id"])
    ledger.submit(ORG_B, r2)
    ledger.submit(ORG_C, referral_step("accepted", r2["referral_id"]))
    r3 = referral_created(to_org=ORG_D, parent_referral_id=r2["referral_id"])
    ledger.submit(ORG_C, r3)

    chain = ledger.query(ORG_D, "referral_chain", r3["referral_id"])
    assert chain["referral_id"] == r3["referral_id"]
    assert chain["purpose"] == "referral"
    items = chain["chain"]
    assert [i["referral_id"] for i in items] == [r3["referral_id"], r2["referral_id"]]
    assert items[0]["withheld"] is False
    assert items[0]["state"] == "created"
    assert [e["event"]["event_id"] for e in items[0]["events"]] == [r3["event_id"]]
    assert items[1:] == [{"referral_id": r2["referral_id"], "withheld": True}]
    assert r1["referral_id"] not in json.dumps(chain)

    scans: list[str] = []
    stored = ledger.stub.get_state_by_partial_composite_key

    def scan(object_type: str, attributes: Sequence[str]) -> Iterator[tuple[str, bytes]]:
        scans.append("/".join([object_type, *attributes]))
        return stored(object_type, attributes)

    ledger.stub.get_state_by_partial_composite_key = scan  # type: ignore[method-assign]
    # C is party to r2 and r3 but not r1; her history is read once for the whole chain.
    mid = ledger.query(ORG_C, "referral_chain", r3["referral_id"])["chain"]
    assert [i["withheld"] for i in mid] == [False, False, True]
    assert mid[1]["state"] == "accepted"
    assert [e["event"]["type"] for e in mid[1]["events"]] == [
        "referral.created",
        "referral.accepted",
    ]
    assert len([s for s in scans if s.endswith("/event")]) == 1

    # A consent for service continuity opens to D, only for that purpose, the referrals
    # of the agency that recorded it: A's opens r1, B's then r2 too.
    continuity = consent_granted(
        grantees=[ORG_D], purposes=["service_continuity"], categories=["referrals"]
    )
    ledger.submit(ORG_A, continuity)
    part = ledger.query(ORG_D, "referral_chain", r3["referral_id"], "service_continuity")
    assert [i["withheld"] for i in part["chain"]] == [False, True]  # r2 hides r1's ID
    ledger.submit(ORG_B, {**continuity, "event_id": uid(), "consent_id": uid()})
    full = ledger.query(ORG_D, "referral_chain", r3["referral_id"], "service_continuity")
    assert [i["withheld"] for i in full["chain"]] == [False, False, False]
    assert full["chain"][2]["from_org"] == ORG_A
    assert [
        i["withheld"] for i in ledger.query(ORG_D, "referral_chain", r3["referral_id"])["chain"]
    ] == [False, True]
    with pytest.raises(NotFoundError):  # A is not party to r3: as if it did not exist
        ledger.query(ORG_A, "referral_chain", r3["referral_id"])


@pytest.mark.parametrize(
    ("function", "args", "code"),
    [
        ("history", [PID, "marketing"], "invalid_code"),
        ("history", [PID], "invalid_arguments"),
        ("history", ["Fatima Al-Hassan", "referral"], "invalid_format"),
        ("entitlements", [PID, "Referral"], "invalid_code"),
        ("consents", ["+963944123456"], "invalid_format"),
        ("referral", ["not-a-uuid"], "invalid_format"),
        ("referral_chain", ["00000000-0000-4000-8000-000000000001", "x"], "invalid_code"),
        ("event", [], "invalid_arguments"),
        ("nonexistent", [], "unknown_function"),
    ],
)
def test_query_argument_validation(
    ledger: Ledger, function: str, args: list[str], code: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ledger.query(ORG_A, function, *args)
    assert info.value.code == code


def test_queries_never_write(ledger: Ledger) -> None:
    records = person_with_records(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=["*"]))
    puts, events = len(ledger.stub.puts), len(ledger.stub.events)
    for org in (ORG_A, ORG_B, ORG_C):
        ledger.query(org, "history", PID, "referral")
        ledger.query(org, "entitlements", PID, "deduplication")
        ledger.query(org, "consents", PID)
        ledger.query(org, "referral", records["referral"]["referral_id"])
        ledger.query(org, "referral_chain", records["referral"]["referral_id"])
        ledger.query(org, "event", records["entitlement"]["event_id"], "deduplication")
    assert (len(ledger.stub.puts), len(ledger.stub.events)) == (puts, events)


def test_a_reader_judges_each_consent_once_per_category(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agency that files many consents about one person (naming another agency) must
    not make every other reader's look at her cost their square."""
    many = 60
    for _ in range(many):
        ledger.submit(ORG_A, consent_granted(grantees=[ORG_B]))
    judged = 0
    covers = consent.covers

    def counted(*args: Any) -> bool:
        nonlocal judged
        judged += 1
        return covers(*args)

    monkeypatch.setattr(consent, "covers", counted)
    assert visible_types(ledger, ORG_C, "referral") == []  # none of them names C
    assert judged <= many * len(fields.DATA_CATEGORIES)
