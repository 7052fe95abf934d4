"""Referral state machine, creation rules (parent, consent) and result shapes."""

from __future__ import annotations

import pytest
from cc_support import ORG_A, ORG_B, ORG_C, ORG_D, START, Ledger

from chaincode.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransitionError,
    ValidationError,
)
from tests.support.events import (
    PID,
    PID_2,
    consent_granted,
    consent_revoked,
    referral_created,
    referral_step,
)

# How to reach each state (the step, then who submits it).
PATHS: dict[str, list[tuple[str, str]]] = {
    "created": [],
    "accepted": [("accepted", ORG_B)],
    "declined": [("declined", ORG_B)],
    "completed": [("accepted", ORG_B), ("completed", ORG_B)],
    "cancelled": [("cancelled", ORG_A)],
}
LEGAL = {
    ("created", "accepted"),
    ("created", "declined"),
    ("created", "cancelled"),
    ("accepted", "completed"),
    ("accepted", "cancelled"),
}
ACTOR = {"accepted": ORG_B, "declined": ORG_B, "completed": ORG_B, "cancelled": ORG_A}


def make(ledger: Ledger, state: str, **kw: str) -> str:
    event = referral_created(**kw)
    assert ledger.submit(ORG_A, event)["state"] == "created"
    for step, org in PATHS[state]:
        ledger.submit(org, referral_step(step, event["referral_id"]))
    return str(event["referral_id"])


@pytest.mark.parametrize("state", sorted(PATHS))
@pytest.mark.parametrize("step", sorted(ACTOR))
def test_every_transition(ledger: Ledger, state: str, step: str) -> None:
    referral_id = make(ledger, state)
    event = referral_step(step, referral_id)
    if (state, step) in LEGAL:
        result = ledger.submit(ACTOR[step], event)
        assert result["state"] == step
        assert result["referral_id"] == referral_id
        stored = ledger.query(ORG_A, "referral", referral_id)
        assert stored["state"] == step
        assert stored["events"][-1]["event"] == event
    else:
        with pytest.raises(TransitionError) as info:
            ledger.submit(ACTOR[step], event)
        assert (info.value.code, info.value.field) == ("invalid_transition", "referral_id")
        assert ledger.query(ORG_A, "referral", referral_id)["state"] == state


def test_result_and_stored_shape(ledger: Ledger) -> None:
    event = referral_created()
    result = ledger.submit(ORG_A, event)
    assert result == {
        "event_id": event["event_id"],
        "type": "referral.created",
        "tx_id": "tx000001",
        "timestamp": "2025-03-01T09:00:01.000000Z",
        "pid": PID,
        "referral_id": event["referral_id"],
        "state": "created",
    }
    ledger.submit(ORG_B, referral_step("declined", event["referral_id"], reason="capacity"))
    view = ledger.query(ORG_B, "referral", event["referral_id"])
    assert {k: v for k, v in view.items() if k != "events"} == {
        "referral_id": event["referral_id"],
        "pid": PID,
        "from_org": ORG_A,
        "to_org": ORG_B,
        "sector": "health",
        "urgency": "urgent",
        "document_hash": event["document_hash"],
        "parent_referral_id": None,
        "consent_id": None,
        "state": "declined",
        "reason": "capacity",
        "outcome": None,
        "created_at": "2025-03-01T09:00:01.000000Z",
        "updated_at": "2025-03-01T09:00:02.000000Z",
        "withheld": False,
    }
    assert [e["event"]["type"] for e in view["events"]] == ["referral.created", "referral.declined"]
    assert ledger.stub.events[-1][0] == "referral.declined"


def test_cannot_refer_to_self(ledger: Ledger) -> None:
    with pytest.raises(ValidationError) as info:
        ledger.submit(ORG_A, referral_created(to_org=ORG_A))
    assert (info.value.code, info.value.field) == ("self_referral", "to_org")


def test_unknown_referral(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError) as info:
        ledger.submit(ORG_B, referral_step("accepted", "00000000-0000-4000-8000-999999999999"))
    assert info.value.code == "referral_not_found"


def test_referral_id_reuse_conflicts(ledger: Ledger) -> None:
    first = referral_created()
    ledger.submit(ORG_A, first)
    again = referral_created(referral_id=first["referral_id"])
    with pytest.raises(ConflictError) as info:
        ledger.submit(ORG_A, again)
    assert info.value.code == "referral_exists"


def test_child_referral_by_parents_receiver(ledger: Ledger) -> None:
    parent = make(ledger, "accepted")
    child = referral_created(to_org=ORG_C, parent_referral_id=parent)
    assert ledger.submit(ORG_B, child)["state"] == "created"
    completed_parent = make(ledger, "completed")
    ledger.submit(ORG_B, referral_created(to_org=ORG_C, parent_referral_id=completed_parent))


@pytest.mark.parametrize(
    ("org", "parent_state", "pid", "error", "code"),
    [
        (ORG_A, "accepted", PID, ForbiddenError, "not_parent_receiver"),
        (ORG_C, "accepted", PID, ForbiddenError, "not_parent_receiver"),
        (ORG_B, "accepted", PID_2, ValidationError, "parent_pid_mismatch"),
        (ORG_B, "created", PID, TransitionError, "parent_not_accepted"),
        (ORG_B, "declined", PID, TransitionError, "parent_not_accepted"),
        (ORG_B, "cancelled", PID, TransitionError, "parent_not_accepted"),
    ],
)
def test_child_referral_rules(
    ledger: Ledger, org: str, parent_state: str, pid: str, error: type[Exception], code: str
) -> None:
    parent = make(ledger, parent_state)
    before = len(ledger.stub.puts)
    with pytest.raises(error) as info:
        ledger.submit(org, referral_created(pid=pid, to_org=ORG_D, parent_referral_id=parent))
    assert getattr(info.value, "code", None) == code
    assert len(ledger.stub.puts) == before


def test_missing_parent(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError) as info:
        ledger.submit(
            ORG_B,
            referral_created(
                to_org=ORG_C, parent_referral_id="00000000-0000-4000-8000-999999999999"
            ),
        )
    assert (info.value.code, info.value.field) == ("referral_not_found", "parent_referral_id")


def test_referral_citing_consent(ledger: Ledger) -> None:
    good = consent_granted(grantees=[ORG_B], purposes=["referral"])
    ledger.submit(ORG_A, good)
    ledger.submit(ORG_A, referral_created(consent_id=good["consent_id"]))
    everyone = consent_granted(grantees=["*"], purposes=["referral"])
    ledger.submit(ORG_C, everyone)
    ledger.submit(ORG_A, referral_created(consent_id=everyone["consent_id"]))


@pytest.mark.parametrize(
    ("consent_kw", "revoke", "at_days", "error", "code"),
    [
        ({"grantees": [ORG_C]}, False, 0, ForbiddenError, "consent_not_covering"),
        ({"purposes": ["deduplication"]}, False, 0, ForbiddenError, "consent_not_covering"),
        ({"pid": PID_2}, False, 0, ValidationError, "consent_pid_mismatch"),
        ({}, True, 0, TransitionError, "consent_inactive"),
        ({"expires": "2025-03-10"}, False, 9, TransitionError, "consent_inactive"),
    ],
)
def test_referral_citing_unfit_consent(
    ledger: Ledger,
    consent_kw: dict[str, object],
    revoke: bool,
    at_days: int,
    error: type[Exception],
    code: str,
) -> None:
    from datetime import timedelta

    consent = consent_granted(**{"grantees": [ORG_B], **consent_kw})  # type: ignore[arg-type]
    ledger.submit(ORG_A, consent)
    if revoke:
        ledger.submit(ORG_C, consent_revoked(consent["consent_id"]))
    with pytest.raises(error) as info:
        ledger.submit(
            ORG_A,
            referral_created(consent_id=consent["consent_id"]),
            at=START + timedelta(days=at_days, hours=1),
        )
    assert getattr(info.value, "code", None) == code
    assert getattr(info.value, "field", None) == "consent_id"


def test_referral_citing_missing_consent(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError) as info:
        ledger.submit(ORG_A, referral_created(consent_id="00000000-0000-4000-8000-999999999999"))
    assert (info.value.code, info.value.field) == ("consent_not_found", "consent_id")


def _counting_reads(ledger: Ledger) -> list[str]:
    """The keys the contract reads from now on, in order (on Fabric, each a round trip)."""
    reads: list[str] = []
    stored = ledger.stub.get_state

    def get_state(key: str) -> bytes | None:
        reads.append(key)
        return stored(key)

    ledger.stub.get_state = get_state  # type: ignore[method-assign]
    return reads


def test_a_hand_over_reads_each_key_once(ledger: Ledger) -> None:
    """On Fabric every read is a round trip to the peer: the cited consent is read once."""
    consent = consent_granted(grantees=[ORG_B], purposes=["referral"])
    ledger.submit(ORG_A, consent)
    referral = referral_created(consent_id=consent["consent_id"])
    ledger.submit(ORG_A, referral)
    reads = _counting_reads(ledger)
    handed = {
        "event_id": "00000000-0000-4000-8000-00000000a001",
        "type": "referral.handed_over",
        "referral_id": referral["referral_id"],
        "document_hash": "ab" * 32,
    }
    assert ledger.submit(ORG_A, handed)["document_hash"] == "ab" * 32
    assert len(reads) == len(set(reads)) == 3  # its receipt, the referral, the consent


def test_an_inbox_page_reads_its_own_referrals_and_no_further(ledger: Ledger) -> None:
    """However many referrals the consortium holds, a page of one agency's inbox reads
    the referrals it shows and one more (whether another page follows), nobody else's."""
    to_b = [referral_created(to_org=ORG_B) for _ in range(12)]
    to_c = [referral_created(to_org=ORG_C) for _ in range(12)]
    for referral in [x for pair in zip(to_b, to_c, strict=True) for x in pair]:
        ledger.submit(ORG_A, referral)
    reads = _counting_reads(ledger)
    page = ledger.query(ORG_B, "referrals", "incoming", "", "", "", "3")
    assert [r["referral_id"] for r in page["referrals"]] == [r["referral_id"] for r in to_b[:3]]
    assert page["more"] is True
    assert len(reads) == 4
    assert not any(r["referral_id"] in key for r in to_c for key in reads)
    last = page["referrals"][-1]
    rest = ledger.query(ORG_B, "referrals", "incoming", "", last["created_at"], last["referral_id"])
    assert [r["referral_id"] for r in rest["referrals"]] == [r["referral_id"] for r in to_b[3:]]
    assert rest["more"] is False
    sent = ledger.query(ORG_A, "referrals", "outgoing", "created", "", "", "200")["referrals"]
    assert len(sent) == 24


@pytest.mark.parametrize(
    "args",
    [
        ("incoming", "", "", "", "0"),
        ("incoming", "", "", "", "201"),
        ("incoming", "", "", "", "20x"),
        ("incoming", "", "", "", "\u0663"),  # a digit, but not an ASCII one
        ("incoming", "", "", "", "9" * 5000),
        ("incoming", "", "yesterday", "00000000-0000-4000-8000-000000000001", "5"),
        ("incoming", "", "2025-03-01T09:00:00.000000Z", "", "5"),
        ("incoming", "", "", "00000000-0000-4000-8000-000000000001", "5"),
        ("incoming", "lost"),
        ("incoming", "", "", "", "5", "extra"),
    ],
)
def test_bad_inbox_arguments_are_refused(ledger: Ledger, args: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError):
        ledger.query(ORG_B, "referrals", *args)
