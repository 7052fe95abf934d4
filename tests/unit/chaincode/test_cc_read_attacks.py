"""Attacks on consent-gated reads: agency B reading what agency A wrote about her.

B may read A's records only under her active consent that A recorded, naming B (or the
whole consortium), for the purpose B states and the record's data category. Each test
plays one way round that, through every query the contract answers.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cc_support import ORG_A, ORG_B, ORG_C, START, Ledger

from chaincode.errors import ContractError, NotFoundError, ValidationError
from tests.support.events import (
    PID,
    consent_granted,
    consent_revoked,
    delivery,
    entitlement_granted,
    referral_created,
    referral_step,
)

EXPIRES = "2025-04-01"  # START is 2025-03-01 09:00 UTC


def a_writes(ledger: Ledger) -> dict[str, Any]:
    """A's records about her: a referral to C (which C accepts), a grant, a delivery."""
    referral = referral_created(to_org=ORG_C)
    ledger.submit(ORG_A, referral)
    accepted = referral_step("accepted", referral["referral_id"])
    ledger.submit(ORG_C, accepted)
    grant = entitlement_granted()
    ledger.submit(ORG_A, grant)
    delivered = delivery(grant["entitlement_id"])
    ledger.submit(ORG_A, delivered)
    return {"referral": referral, "accepted": accepted, "grant": grant, "delivery": delivered}


def reads(ledger: Ledger, records: dict[str, Any], purpose: str, **kw: Any) -> dict[str, Any]:
    """Everything B learns of A's records for `purpose`, through every query."""
    history = ledger.query(ORG_B, "history", PID, purpose, **kw)
    open_ones = ledger.query(ORG_B, "entitlements", PID, purpose, **kw)
    found: dict[str, Any] = {
        "history": [e["event"]["type"] for e in history["events"] if e["category"] != "consent"],
        "entitlements": [e["entitlement_id"] for e in open_ones["entitlements"]],
        "events": [],
        "referral": None,
        "chain": None,
    }
    for name in ("referral", "accepted", "grant", "delivery"):
        with contextlib.suppress(NotFoundError):  # withheld: as if unknown
            ledger.query(ORG_B, "event", records[name]["event_id"], purpose, **kw)
            found["events"].append(name)
    rid = records["referral"]["referral_id"]
    for key, function in (("referral", "referral"), ("chain", "referral_chain")):
        with contextlib.suppress(NotFoundError):
            found[key] = ledger.query(ORG_B, function, rid, purpose, **kw)
    return found


def purposed_reads(records: dict[str, Any]) -> list[tuple[str, str]]:
    """Each query that takes a purpose, with the subject of A's records it reads."""
    rid, eid = records["referral"]["referral_id"], records["grant"]["event_id"]
    return [
        ("history", PID),
        ("entitlements", PID),
        ("event", eid),
        ("referral", rid),
        ("referral_chain", rid),
    ]


NOTHING: dict[str, Any] = {
    "history": [],
    "entitlements": [],
    "events": [],
    "referral": None,
    "chain": None,
}


def shows_nothing(found: dict[str, Any]) -> bool:
    return found == NOTHING


def test_without_consent_b_reads_nothing(ledger: Ledger) -> None:
    records = a_writes(ledger)
    for purpose in ("referral", "deduplication", "service_continuity"):
        assert shows_nothing(reads(ledger, records, purpose))


@pytest.mark.parametrize(
    "consent_kw",
    [
        {"grantees": [ORG_C]},
        {"grantees": [ORG_B], "purposes": ["service_continuity"]},
        {"grantees": [ORG_B], "categories": ["consent"]},
    ],
    ids=["another grantee", "another purpose", "another category"],
)
def test_a_consent_that_does_not_cover_the_read_opens_nothing(
    ledger: Ledger, consent_kw: dict[str, Any]
) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(**consent_kw))
    assert shows_nothing(reads(ledger, records, "referral"))


@pytest.mark.parametrize("recorder", [ORG_B, ORG_C], ids=["the reader", "the receiver"])
def test_a_consent_another_member_recorded_opens_nothing_a_answers_for(
    ledger: Ledger, recorder: str
) -> None:
    """C is the referral's receiver and wrote one of its events; still, its consent
    shares nothing of the referral A sent, nor anything else A wrote."""
    records = a_writes(ledger)
    ledger.submit(recorder, consent_granted(grantees=["*"]))
    ledger.submit(recorder, consent_granted(grantees=[ORG_B]))
    assert shows_nothing(reads(ledger, records, "referral"))


def test_the_consortium_wide_consent_a_recorded_opens_its_records(ledger: Ledger) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=["*"], purposes=["referral"]))
    found = reads(ledger, records, "referral")
    assert found["history"] == [
        "referral.created",
        "referral.accepted",  # C's event, on A's referral: shared under A's consent
        "entitlement.granted",
        "assistance.delivered",
    ]
    assert found["events"] == ["referral", "accepted", "grant", "delivery"]
    assert found["entitlements"] == [records["grant"]["entitlement_id"]]
    assert found["referral"]["state"] == "accepted"
    assert shows_nothing(reads(ledger, records, "deduplication"))  # not that purpose


def test_one_category_opens_that_category_only(ledger: Ledger) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_B], categories=["assistance"]))
    found = reads(ledger, records, "referral")
    assert (found["history"], found["events"]) == (["assistance.delivered"], ["delivery"])
    assert found["entitlements"] == []
    assert found["referral"] is None


def test_a_consent_lapses_at_midnight_utc_whatever_the_reader_s_zone(ledger: Ledger) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_B], expires=EXPIRES))
    lapse = datetime(2025, 4, 1, tzinfo=UTC)
    last_moment = lapse - timedelta(microseconds=1)
    # 13:59 on 1 April in Kiribati (UTC+14) is still 31 March in UTC: open.
    kiribati = (lapse - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=14)))
    # 23:00 on 31 March in Honolulu (UTC-10) is already 1 April in UTC: lapsed.
    honolulu = (lapse + timedelta(hours=9)).astimezone(timezone(timedelta(hours=-10)))
    assert honolulu.date().isoformat() < EXPIRES == kiribati.date().isoformat()
    for at in (last_moment, kiribati):
        assert reads(ledger, records, "referral", at=at)["events"] == [
            "referral",
            "accepted",
            "grant",
            "delivery",
        ]
    for at in (lapse, honolulu, lapse + timedelta(days=400)):
        assert shows_nothing(reads(ledger, records, "referral", at=at))


def test_a_withdrawal_closes_reads_in_the_same_second(ledger: Ledger) -> None:
    records = a_writes(ledger)
    consent = consent_granted(grantees=[ORG_B])
    ledger.submit(ORG_A, consent)
    moment = START + timedelta(hours=1)
    assert reads(ledger, records, "referral", at=moment)["history"] != []
    ledger.submit(ORG_C, consent_revoked(consent["consent_id"]), at=moment)
    assert shows_nothing(reads(ledger, records, "referral", at=moment))
    # Another consent, by A, to another purpose, opens only that purpose.
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_B], purposes=["deduplication"]))
    assert shows_nothing(reads(ledger, records, "referral"))
    assert reads(ledger, records, "deduplication")["history"] != []


def test_a_consent_recorded_later_opens_what_a_wrote_before(ledger: Ledger) -> None:
    """Her consent is to sharing what A holds of her while it is active, not what A
    writes from then on: the README's "active consent", nothing about the event's date."""
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_B]), at=START + timedelta(days=3))
    assert len(reads(ledger, records, "referral")["history"]) == 4


def test_what_b_may_not_read_answers_as_if_unknown(ledger: Ledger) -> None:
    """An event, a referral or a chain withheld answers as one that was never written;
    her history and open entitlements say only how many are withheld."""
    records = a_writes(ledger)
    unknown = "00000000-0000-4000-8000-999999999999"
    for function, known in (
        ("event", records["grant"]["event_id"]),
        ("referral", records["referral"]["referral_id"]),
        ("referral_chain", records["referral"]["referral_id"]),
    ):
        refusals = []
        for ident in (known, unknown):
            with pytest.raises(NotFoundError) as info:
                ledger.query(ORG_B, function, ident, "referral")
            refusals.append(info.value.to_dict())
        assert refusals[0] == refusals[1]
    history = ledger.query(ORG_B, "history", PID, "referral")
    assert history == {"pid": PID, "purpose": "referral", "events": [], "withheld": 4}
    open_ones = ledger.query(ORG_B, "entitlements", PID, "referral")
    assert open_ones == {"pid": PID, "purpose": "referral", "entitlements": [], "withheld": 1}
    assert ledger.query(ORG_B, "consents", PID) == {"pid": PID, "consents": []}


@pytest.mark.parametrize(
    "purpose", ["", "Referral", "REFERRAL", " referral", "referral\x00", "marketing", "*"]
)
def test_a_purpose_outside_the_vocabulary_is_refused_everywhere(
    ledger: Ledger, purpose: str
) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_B]))
    for function, subject in purposed_reads(records):
        with pytest.raises(ValidationError) as info:
            ledger.query(ORG_B, function, subject, purpose)
        assert info.value.code == "invalid_code"


def test_a_purpose_given_twice_is_refused(ledger: Ledger) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_B], purposes=["deduplication"]))
    for function, subject in purposed_reads(records):
        with pytest.raises(ValidationError) as info:
            ledger.query(ORG_B, function, subject, "referral", "deduplication")
        assert info.value.code == "invalid_arguments"


def test_an_event_read_without_a_purpose_is_own_or_party_only(ledger: Ledger) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_B]))
    for name in ("referral", "grant", "delivery"):
        with pytest.raises(NotFoundError):
            ledger.query(ORG_B, "event", records[name]["event_id"])
    # C is the referral's receiver: it reads A's event on it without a purpose.
    assert ledger.query(ORG_C, "event", records["referral"]["event_id"])["org"] == ORG_A


def test_a_referral_s_receiver_consent_does_not_open_its_onward_parent(ledger: Ledger) -> None:
    """A refers her to C; C refers her on to B's sight under its own consent. B reads
    C's onward referral, not A's that it continues, nor A's events on it."""
    records = a_writes(ledger)
    onward = referral_created(
        to_org="AGENCY-D", parent_referral_id=records["referral"]["referral_id"]
    )
    ledger.submit(ORG_C, onward)
    ledger.submit(ORG_C, consent_granted(grantees=[ORG_B]))
    chain = ledger.query(ORG_B, "referral_chain", onward["referral_id"], "referral")["chain"]
    assert [link["withheld"] for link in chain] == [False, True]
    assert chain[1] == {"referral_id": records["referral"]["referral_id"], "withheld": True}
    history = ledger.query(ORG_B, "history", PID, "referral")
    assert [(e["org"], e["event"]["type"]) for e in history["events"]] == [
        (ORG_C, "referral.created"),
        (ORG_C, "consent.granted"),
    ]


def test_a_consent_about_another_person_opens_nothing_of_her(ledger: Ledger) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted("h." + "c" * 26, grantees=[ORG_B]))
    assert shows_nothing(reads(ledger, records, "referral"))


def test_donors_read_nothing_person_level(ledger: Ledger) -> None:
    records = a_writes(ledger)
    ledger.submit(ORG_A, consent_granted(grantees=["*"]))
    for function, subject in (
        ("history", PID),
        ("entitlements", PID),
        ("consents", PID),
        ("event", records["grant"]["event_id"]),
        ("referral", records["referral"]["referral_id"]),
    ):
        args = (subject,) if function == "consents" else (subject, "referral")
        with pytest.raises(ContractError) as info:
            ledger.query("DONOR-X", function, *args, role="donor")
        assert info.value.code == "role_forbidden"
