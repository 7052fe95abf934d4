"""The contract's amendment that binds what a write tells to her consent: after it, a
grant names only the overlapping grants its granter may read for deduplication, and a
referral may cite only a consent its sender is a party to. Entries dated before it are
answered as they were, so that an older log replays to what it holds.

The attacks are the review's: an agency that knows only her name and birth date derives
her ID, then grants and revokes probe entitlements of every type and of shrinking
periods, reading which grant each probe overlaps; or cites her consent's ID, printed on
her registration card, to learn whom it covers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from cc_support import ORG_A, ORG_B, ORG_C, Ledger

from chaincode.amendments import CONSENT_BOUND
from chaincode.errors import ForbiddenError, NotFoundError, ValidationError
from tests.support.events import (
    PID,
    PID_2,
    consent_granted,
    entitlement_granted,
    entitlement_step,
    referral_created,
)

IN_FORCE = datetime.fromisoformat(CONSENT_BOUND.replace("Z", "+00:00"))
BEFORE = IN_FORCE - timedelta(microseconds=1)
SHELTER = {"assistance_type": "shelter", "start": "2027-03-17", "end": "2027-09-05"}
TYPES = ("cash", "food", "shelter", "health", "education")


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(start=IN_FORCE + timedelta(days=1))


def _grant(ledger: Ledger, org: str, **kw: Any) -> dict[str, Any]:
    return ledger.submit(org, entitlement_granted(**{**SHELTER, **kw}))


def _probe(ledger: Ledger, org: str, assistance_type: str, start: str, end: str) -> list[str]:
    """A probe grant, revoked at once; what it was flagged a duplicate of."""
    result = _grant(ledger, org, assistance_type=assistance_type, start=start, end=end)
    ledger.submit(org, entitlement_step("revoked", result["entitlement_id"]))
    return list(result["possible_duplicate_of"])


def test_probes_learn_nothing_of_another_agencys_grant(ledger: Ledger) -> None:
    _grant(ledger, ORG_A)
    flagged = [_probe(ledger, ORG_C, t, "2027-01-01", "2027-12-31") for t in TYPES]
    flagged += [
        _probe(ledger, ORG_C, "shelter", f"2027-{m:02}-01", f"2027-{m:02}-28") for m in (1, 3, 9)
    ]
    assert flagged == [[]] * len(flagged)
    # Nor does a consent the prober records itself, naming itself: it opens only what the
    # prober wrote.
    ledger.submit(ORG_C, consent_granted(grantees=[ORG_C]))
    assert _probe(ledger, ORG_C, "shelter", "2027-01-01", "2027-12-31") == []


def test_a_granter_is_told_of_overlaps_it_may_read_for_deduplication(ledger: Ledger) -> None:
    own = [_grant(ledger, ORG_C)["entitlement_id"]]
    other = _grant(ledger, ORG_A)["entitlement_id"]

    def flagged() -> list[str]:
        result = _grant(ledger, ORG_C)
        own.append(result["entitlement_id"])
        return list(result["possible_duplicate_of"])

    assert flagged() == own[:1]
    # Her consent that AGENCY-A recorded, for another purpose or category: still its own.
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_C], purposes=["referral"]))
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_C], categories=["assistance"]))
    assert flagged() == sorted(own[:-1])
    # For deduplication and her entitlements, naming AGENCY-C: AGENCY-A's grant is named.
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_C], purposes=["deduplication"]))
    assert flagged() == sorted([*own[:-1], other])


def test_grants_before_the_amendment_replay_as_they_were_answered() -> None:
    ledger = Ledger(start=BEFORE - timedelta(hours=1))
    other = _grant(ledger, ORG_A)["entitlement_id"]
    before = ledger.submit(ORG_C, entitlement_granted(**SHELTER), at=BEFORE)
    assert before["possible_duplicate_of"] == [other]
    after = ledger.submit(ORG_C, entitlement_granted(**SHELTER), at=IN_FORCE)
    assert after["possible_duplicate_of"] == [before["entitlement_id"]]


def test_a_reader_sees_only_the_duplicates_it_may_read() -> None:
    """AGENCY-A's grant, flagged (before the amendment) as a duplicate of AGENCY-B's, read
    by AGENCY-C under AGENCY-A's consent only: AGENCY-B's grant stays unnamed."""
    ledger = Ledger(start=BEFORE - timedelta(hours=1))
    theirs = _grant(ledger, ORG_B)["entitlement_id"]
    mine = _grant(ledger, ORG_A)
    assert mine["possible_duplicate_of"] == [theirs]
    ledger.submit(ORG_A, consent_granted(grantees=[ORG_C]))
    (seen,) = ledger.query(ORG_C, "entitlements", PID, "deduplication")["entitlements"]
    assert (seen["entitlement_id"], seen["possible_duplicate_of"]) == (mine["entitlement_id"], [])
    ledger.submit(ORG_B, consent_granted(grantees=[ORG_C]))
    view = ledger.query(ORG_C, "entitlements", PID, "deduplication")["entitlements"]
    assert {e["entitlement_id"]: e["possible_duplicate_of"] for e in view} == {
        theirs: [],
        mine["entitlement_id"]: [theirs],
    }


def test_citing_a_consent_one_is_no_party_to_tells_nothing(ledger: Ledger) -> None:
    """AGENCY-C cites AGENCY-A's consent naming AGENCY-B: about her or about someone else,
    covering AGENCY-C or not, the answer is the one an unknown ID gets, and nothing is
    written."""
    card = ledger.submit(ORG_A, consent_granted(grantees=[ORG_B]))["consent_id"]
    answers = []
    for person, to_org in ((PID, ORG_B), (PID, ORG_A), (PID_2, ORG_B)):
        with pytest.raises(NotFoundError) as refused:
            ledger.submit(ORG_C, referral_created(person, to_org=to_org, consent_id=card))
        answers.append((refused.value.code, refused.value.field))
    with pytest.raises(NotFoundError) as unknown:
        ledger.submit(ORG_C, referral_created(consent_id="00000000-0000-4000-8000-000000000bad"))
    assert set(answers) == {(unknown.value.code, unknown.value.field)}
    assert ledger.query(ORG_C, "history", PID, "referral")["events"] == []
    # Its parties are answered as before: the grantee, told whom it covers, and the
    # collector, whose referral to AGENCY-B it covers.
    with pytest.raises(ForbiddenError) as told:
        ledger.submit(ORG_B, referral_created(to_org=ORG_A, consent_id=card))
    assert told.value.code == "consent_not_covering"
    assert ledger.submit(ORG_A, referral_created(consent_id=card))["state"] == "created"


def test_before_the_amendment_a_cited_consent_was_judged_for_anyone() -> None:
    ledger = Ledger(start=BEFORE - timedelta(hours=1))
    card = ledger.submit(ORG_A, consent_granted(grantees=[ORG_B]))["consent_id"]
    with pytest.raises(ValidationError) as told:
        ledger.submit(ORG_C, referral_created(PID_2, consent_id=card), at=BEFORE)
    assert told.value.code == "consent_pid_mismatch"
    with pytest.raises(NotFoundError):
        ledger.submit(ORG_C, referral_created(PID_2, consent_id=card), at=IN_FORCE)
