"""An event logged after it happened: it keeps its capture time; the contract judges it at
the time it is logged, and a capture time never makes the same event a second one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cc_support import ORG_A, START, Ledger

from chaincode.errors import ConflictError, ValidationError
from chaincode.store import iso_timestamp
from tests.support.events import PID, consent_granted, entitlement_granted

DAY_AGO = iso_timestamp(START - timedelta(days=1))


def test_the_record_keeps_both_times(ledger: Ledger) -> None:
    event = {**entitlement_granted(), "captured_at": DAY_AGO}
    result = ledger.submit(ORG_A, event, at=START)
    assert result["timestamp"] == iso_timestamp(START)
    history = ledger.submit(ORG_A, consent_granted(PID))  # so AGENCY-A may read it
    assert history["type"] == "consent.granted"
    records = ledger.query(ORG_A, "history", PID, "referral")["events"]
    kept = next(r for r in records if r["event"]["event_id"] == event["event_id"])
    assert (kept["timestamp"], kept["event"]["captured_at"]) == (iso_timestamp(START), DAY_AGO)


def test_a_capture_after_the_logging_is_refused(ledger: Ledger) -> None:
    later = iso_timestamp(START + timedelta(seconds=1))
    with pytest.raises(ValidationError) as refused:
        ledger.submit(ORG_A, {**entitlement_granted(), "captured_at": later}, at=START)
    assert refused.value.field == "captured_at"


@pytest.mark.parametrize(
    "bad", ["2025-03-01T09:00:00Z", "2025-02-30T09:00:00.000000Z", "2025-03-01T25:00:00.000000Z", 7]
)
def test_a_capture_time_has_one_spelling(ledger: Ledger, bad: object) -> None:
    with pytest.raises(ValidationError) as refused:
        ledger.submit(ORG_A, {**entitlement_granted(), "captured_at": bad})
    assert refused.value.field == "captured_at"


def test_the_same_event_logged_again_with_its_capture_time_replays(ledger: Ledger) -> None:
    event = entitlement_granted()
    first = ledger.submit(ORG_A, event, at=START)
    again = ledger.submit(ORG_A, {**event, "captured_at": iso_timestamp(START)}, at=START)
    assert again == first


def test_a_capture_time_does_not_hide_other_content(ledger: Ledger) -> None:
    event = entitlement_granted()
    ledger.submit(ORG_A, event, at=START)
    changed = {**event, "amount": "999", "captured_at": iso_timestamp(START)}
    with pytest.raises(ConflictError):
        ledger.submit(ORG_A, changed, at=START)
