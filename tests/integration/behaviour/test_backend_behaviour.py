"""The contract's and the gateway's behaviour, the same on every backend.

Writes, rejections, idempotency, consent-gated reads, referral chains and duplicate
flags. Each test uses fresh person IDs, so the Fabric network can be shared.
"""

from __future__ import annotations

import pytest

from ledger_gw.errors import RejectedError
from tests.integration.behaviour.conftest import Backend
from tests.support import events as ev

A, B, C, AUDITOR, DONOR = "AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X", "DONOR-Y"


def test_writes_are_accepted_and_readable(backend: Backend) -> None:
    person = ev.pid()
    grant = ev.entitlement_granted(person)
    [outcome] = backend.client(A).submit_many([grant])
    assert outcome.error is None
    assert outcome.position is not None
    result = outcome.unwrap()
    assert result["event_id"] == grant["event_id"]
    assert result["tx_id"] == outcome.tx_id
    assert result["state"] == "active"
    delivered = backend.client(A).submit(ev.delivery(grant["entitlement_id"], "50"))
    assert delivered["type"] == "assistance.delivered"
    [open_one] = backend.client(A).entitlements(person, "deduplication")["entitlements"]
    assert (open_one["delivered"], open_one["remaining"]) == ("50", "100")


def test_rejections_name_the_field_and_write_nothing(backend: Backend) -> None:
    person = ev.pid()
    agency = backend.client(A)
    with pytest.raises(RejectedError) as bad:
        agency.submit(ev.entitlement_granted(person, given_name="Fatima"))
    assert bad.value.kind == "validation"
    assert bad.value.field == "given_name"
    with pytest.raises(RejectedError) as forbidden:
        backend.client(AUDITOR).submit(ev.entitlement_granted(person))
    assert forbidden.value.kind == "forbidden"
    referral = ev.referral_created(person, to_org=B)
    agency.submit(referral)
    with pytest.raises(RejectedError) as not_receiver:
        backend.client(C).submit(ev.referral_step("accepted", referral["referral_id"]))
    assert not_receiver.value.kind == "forbidden"
    with pytest.raises(RejectedError) as donor:
        backend.client(DONOR).history(person, "referral")
    assert donor.value.kind == "forbidden"
    assert agency.entitlements(person, "deduplication")["entitlements"] == []


def test_resubmission_is_idempotent_and_ids_cannot_be_reused(backend: Backend) -> None:
    grant = ev.entitlement_granted(ev.pid())
    agency = backend.client(A)
    first = agency.submit(grant)
    [again] = agency.submit_many([grant])  # newly signed, same event
    assert again.error is None
    assert again.position is None  # nothing new was written
    assert again.result == first
    changed = {**grant, "amount": "999.00"}
    with pytest.raises(RejectedError) as conflict:
        agency.submit(changed)
    assert conflict.value.code == "event_id_conflict"
    assert len(agency.history(grant["pid"], "deduplication")["events"]) == 1


def test_another_organisations_event_id_tells_nothing(backend: Backend) -> None:
    """B writing an event with A's event ID is judged on its own content (no conflict that
    would reveal the ID exists); A's replay still answers its original result."""
    grant = ev.entitlement_granted(ev.pid())
    first = backend.client(A).submit(grant)
    own = {**ev.entitlement_granted(ev.pid()), "event_id": grant["event_id"]}
    theirs = backend.client(B).submit(own)
    assert theirs["entitlement_id"] == own["entitlement_id"]
    assert theirs["tx_id"] != first["tx_id"]
    [again] = backend.client(A).submit_many([grant])
    assert (again.error, again.position, again.result) == (None, None, first)
    with pytest.raises(RejectedError) as conflict:
        backend.client(A).submit({**grant, "amount": "999.00"})
    assert conflict.value.code == "event_id_conflict"


def test_reads_are_gated_by_consent(backend: Backend) -> None:
    person = ev.pid()
    backend.client(A).submit(ev.entitlement_granted(person))
    assert backend.client(A).history(person, "service_continuity")["events"] != []
    assert backend.client(B).history(person, "service_continuity")["events"] == []
    consent = ev.consent_granted(person, grantees=[B], purposes=["service_continuity"])
    backend.client(A).submit(consent)
    seen = backend.client(B).history(person, "service_continuity")["events"]
    assert {e["event"]["type"] for e in seen} == {"entitlement.granted", "consent.granted"}
    assert backend.client(C).history(person, "service_continuity")["events"] == []
    other_purpose = backend.client(B).history(person, "referral")["events"]
    assert [e["event"]["type"] for e in other_purpose] == ["consent.granted"]  # a party to it
    backend.client(A).submit(ev.consent_revoked(consent["consent_id"]))
    after = backend.client(B).history(person, "service_continuity")["events"]
    assert "entitlement.granted" not in {e["event"]["type"] for e in after}


def test_referral_chains(backend: Backend) -> None:
    person = ev.pid()
    backend.client(A).submit(ev.consent_granted(person))
    first = ev.referral_created(person, to_org=B)
    backend.client(A).submit(first)
    backend.client(B).submit(ev.referral_step("accepted", first["referral_id"]))
    backend.client(B).submit(ev.referral_step("completed", first["referral_id"]))
    second = ev.referral_created(person, to_org=C, parent_referral_id=first["referral_id"])
    backend.client(B).submit(second)
    chain = backend.client(AUDITOR).referral_chain(second["referral_id"])["chain"]
    assert [link["referral_id"] for link in chain] == [
        second["referral_id"],
        first["referral_id"],
    ]
    assert [link["state"] for link in chain] == ["created", "completed"]
    assert [(link["from_org"], link["to_org"]) for link in chain] == [(B, C), (A, B)]
    with pytest.raises(RejectedError) as closed:
        backend.client(B).submit(ev.referral_step("accepted", first["referral_id"]))
    assert closed.value.kind == "transition"


def test_overlapping_grants_are_flagged_as_possible_duplicates(backend: Backend) -> None:
    """Of the grants its granter may read for deduplication: another agency's only under
    her consent that agency recorded."""
    person = ev.pid()
    first = backend.client(A).submit(ev.entitlement_granted(person))
    assert first["possible_duplicate_of"] == []
    second = backend.client(B).submit(ev.entitlement_granted(person))
    assert second["possible_duplicate_of"] == []
    backend.client(A).submit(ev.consent_granted(person, grantees=[B]))
    third = backend.client(B).submit(ev.entitlement_granted(person))
    assert third["possible_duplicate_of"] == sorted(
        [first["entitlement_id"], second["entitlement_id"]]
    )
    other_type = backend.client(B).submit(
        ev.entitlement_granted(person, assistance_type="health", modality="service")
    )
    assert other_type["possible_duplicate_of"] == []


def test_an_inbox_is_read_a_page_at_a_time(backend: Backend) -> None:
    """Each page reads on from where the last one ended, in the order of the whole list,
    and says whether more follow; other agencies' referrals are not in it."""
    person = ev.pid()
    sent = [ev.referral_created(person, to_org=C) for _ in range(5)]
    for referral in sent:
        backend.client(A).submit(referral)
    backend.client(B).submit(ev.referral_created(person, to_org=A))
    backend.client(C).submit(ev.referral_step("accepted", sent[3]["referral_id"]))
    inbox = backend.client(C)

    def pages(state: str, limit: int) -> tuple[list[str], int]:
        ids: list[str] = []
        after = ("", "")
        for count in range(1, 1000):
            page = inbox.query("referrals", "incoming", state, *after, str(limit))
            ids += [r["referral_id"] for r in page["referrals"]]
            assert all(r["to_org"] == C for r in page["referrals"])
            if not page["more"]:
                return ids, count
            last = page["referrals"][-1]
            after = (last["created_at"], last["referral_id"])
        raise AssertionError("the pages never end")

    whole = inbox.query("referrals", "incoming")["referrals"]
    every, count = pages("", 2)
    assert every == [r["referral_id"] for r in whole]
    assert every[-5:] == [r["referral_id"] for r in sent]  # the newest last
    assert count == -(-len(every) // 2)
    accepted, _ = pages("accepted", 1)
    assert sent[3]["referral_id"] in accepted
    assert accepted == [r["referral_id"] for r in whole if r["state"] == "accepted"]
