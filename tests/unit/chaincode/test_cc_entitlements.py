"""Entitlement state machine, deliveries (no over-delivery) and possible-duplicate flags."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cc_support import ORG_A, ORG_B, ORG_C, Ledger

from chaincode.errors import ConflictError, NotFoundError, TransitionError, ValidationError
from chaincode.store import open_entitlements_key
from tests.support.events import PID, PID_2, delivery, entitlement_granted, entitlement_step

PATHS: dict[str, list[str]] = {
    "active": [],
    "suspended": ["suspended"],
    "revoked": ["revoked"],
    "closed": ["closed"],
    "revoked_from_suspended": ["suspended", "revoked"],
    "closed_from_suspended": ["suspended", "closed"],
    "resumed": ["suspended", "resumed"],
}
LEGAL = {
    "active": {"suspended", "revoked", "closed", "delivered"},
    "suspended": {"resumed", "revoked", "closed"},
}
TARGET = {"suspended": "suspended", "resumed": "active", "revoked": "revoked", "closed": "closed"}
# The entitlement these tests reason about: 100 SYP over the spring of 2025, paid in SYP.
TERMS = {
    "programme": "MPCA-2025",
    "amount": "100",
    "currency": "SYP",
    "start": "2025-03-01",
    "end": "2025-05-31",
}
PAYMENT = {"amount": "10", "currency": "SYP", "date": "2025-03-15"}


def grant(ledger: Ledger, org: str = ORG_A, **kw: Any) -> dict[str, Any]:
    event = entitlement_granted(**{**TERMS, **kw})
    result = ledger.submit(org, event)
    assert result["entitlement_id"] == event["entitlement_id"]
    return result


def paid(entitlement_id: str, **kw: Any) -> dict[str, Any]:
    return delivery(entitlement_id, **{**PAYMENT, **kw})


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("step", ["suspended", "resumed", "revoked", "closed", "delivered"])
def test_every_transition(ledger: Ledger, path: str, step: str) -> None:
    entitlement_id = grant(ledger)["entitlement_id"]
    for s in PATHS[path]:
        ledger.submit(ORG_A, entitlement_step(s, entitlement_id))
    state = {"resumed": "active"}.get(path, path.split("_")[0])
    event = paid(entitlement_id) if step == "delivered" else entitlement_step(step, entitlement_id)
    if step in LEGAL.get(state, set()):
        result = ledger.submit(ORG_A, event)
        if step != "delivered":
            assert result["state"] == TARGET[step]
    else:
        with pytest.raises(TransitionError) as info:
            ledger.submit(ORG_A, event)
        expected = "entitlement_not_active" if step == "delivered" else "invalid_transition"
        assert (info.value.code, info.value.field) == (expected, "entitlement_id")


def test_grant_result_and_open_view(ledger: Ledger) -> None:
    event = entitlement_granted(location="SY0203", **TERMS)
    result = ledger.submit(ORG_A, event)
    assert result == {
        "event_id": event["event_id"],
        "type": "entitlement.granted",
        "tx_id": "tx000001",
        "timestamp": "2025-03-01T09:00:01.000000Z",
        "pid": PID,
        "entitlement_id": event["entitlement_id"],
        "state": "active",
        "possible_duplicate_of": [],
    }
    ledger.submit(ORG_A, paid(event["entitlement_id"], amount="12.5"))
    view = ledger.query(ORG_A, "entitlements", PID, "deduplication")
    assert view["pid"] == PID
    assert view["purpose"] == "deduplication"
    assert view["entitlements"] == [
        {
            "entitlement_id": event["entitlement_id"],
            "pid": PID,
            "granted_by": ORG_A,
            "programme": "MPCA-2025",
            "assistance_type": "cash",
            "modality": "cash",
            "amount": "100",
            "currency": "SYP",
            "start": "2025-03-01",
            "end": "2025-05-31",
            "location": "SY0203",
            "state": "active",
            "reason": None,
            "delivered": "12.5",
            "remaining": "87.5",
            "possible_duplicate_of": [],
            "created_at": "2025-03-01T09:00:01.000000Z",
            "updated_at": "2025-03-01T09:00:02.000000Z",
        }
    ]


def test_entitlements_query_lists_only_open_ones(ledger: Ledger) -> None:
    keep = grant(ledger)["entitlement_id"]
    paused = grant(ledger, assistance_type="food")["entitlement_id"]
    ledger.submit(ORG_A, entitlement_step("suspended", paused))
    gone = grant(ledger, assistance_type="shelter")["entitlement_id"]
    ledger.submit(ORG_A, entitlement_step("revoked", gone))
    done = grant(ledger, assistance_type="wash")["entitlement_id"]
    ledger.submit(ORG_A, entitlement_step("closed", done))
    grant(ledger, pid=PID_2)
    listed = ledger.query(ORG_A, "entitlements", PID, "deduplication")["entitlements"]
    assert {e["entitlement_id"]: e["state"] for e in listed} == {
        keep: "active",
        paused: "suspended",
    }


def test_deliveries_up_to_the_entitled_amount(ledger: Ledger) -> None:
    eid = grant(ledger, amount="100.50")["entitlement_id"]
    first = ledger.submit(ORG_A, paid(eid, amount="60.25"))
    assert (first["delivered"], first["remaining"]) == ("60.25", "40.25")
    second = ledger.submit(ORG_A, paid(eid, amount="40.25", date="2025-05-31"))
    assert (second["delivered"], second["remaining"]) == ("100.5", "0")
    before = len(ledger.stub.puts)
    with pytest.raises(TransitionError) as info:
        ledger.submit(ORG_A, paid(eid, amount="0.0001"))
    assert (info.value.code, info.value.field) == ("exceeds_entitlement", "amount")
    assert len(ledger.stub.puts) == before


def test_single_over_delivery_rejected(ledger: Ledger) -> None:
    eid = grant(ledger)["entitlement_id"]
    ledger.submit(ORG_A, paid(eid, amount="60"))
    with pytest.raises(TransitionError) as info:
        ledger.submit(ORG_A, paid(eid, amount="41"))
    assert info.value.code == "exceeds_entitlement"
    assert ledger.submit(ORG_A, paid(eid, amount="40"))["remaining"] == "0"


@pytest.mark.parametrize(
    ("kw", "code", "field"),
    [
        ({"currency": "USD"}, "currency_mismatch", "currency"),
        ({"date": "2025-02-28"}, "date_outside_period", "date"),
        ({"date": "2025-06-01"}, "date_outside_period", "date"),
    ],
)
def test_delivery_must_match_entitlement(
    ledger: Ledger, kw: dict[str, str], code: str, field: str
) -> None:
    eid = grant(ledger)["entitlement_id"]
    with pytest.raises(ValidationError) as info:
        ledger.submit(ORG_A, paid(eid, **kw))
    assert (info.value.code, info.value.field) == (code, field)


def test_delivery_against_unknown_entitlement(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError) as info:
        ledger.submit(ORG_A, paid("00000000-0000-4000-8000-999999999999"))
    assert info.value.code == "entitlement_not_found"


def test_entitlement_id_reuse_conflicts(ledger: Ledger) -> None:
    eid = grant(ledger)["entitlement_id"]
    with pytest.raises(ConflictError) as info:
        ledger.submit(ORG_B, entitlement_granted(entitlement_id=eid))
    assert info.value.code == "entitlement_exists"


@pytest.mark.parametrize(
    ("start", "end", "flagged"),
    [
        ("2025-03-01", "2025-05-31", True),  # same period
        ("2025-05-31", "2025-07-31", True),  # shares the last day
        ("2025-01-01", "2025-03-01", True),  # shares the first day
        ("2025-04-01", "2025-04-30", True),  # inside
        ("2025-01-01", "2025-12-31", True),  # around
        ("2025-06-01", "2025-06-30", False),  # adjacent after
        ("2025-01-01", "2025-02-28", False),  # adjacent before
        ("2026-01-01", "2026-02-01", False),  # far away
    ],
)
def test_duplicate_flag_by_overlap(ledger: Ledger, start: str, end: str, flagged: bool) -> None:
    first = grant(ledger)["entitlement_id"]
    result = grant(ledger, ORG_B, start=start, end=end)
    assert result["possible_duplicate_of"] == ([first] if flagged else [])


def test_duplicate_flag_rules(ledger: Ledger) -> None:
    own = grant(ledger)["entitlement_id"]
    other_org = grant(ledger, ORG_C, entitlement_id="00000000-0000-4000-8000-000000999990")
    assert other_org["possible_duplicate_of"] == [own]
    grant(ledger, ORG_B, assistance_type="food")  # another type: no flag either way
    grant(ledger, ORG_B, pid=PID_2)  # another person
    revoked = grant(ledger, ORG_B, start="2025-04-01", end="2025-04-30")["entitlement_id"]
    ledger.submit(ORG_B, entitlement_step("revoked", revoked))
    closed = grant(ledger, ORG_B, start="2025-04-01", end="2025-04-30")["entitlement_id"]
    ledger.submit(ORG_B, entitlement_step("closed", closed))
    suspended = grant(ledger, ORG_B, start="2025-04-01", end="2025-04-30")["entitlement_id"]
    ledger.submit(ORG_B, entitlement_step("suspended", suspended))
    result = grant(ledger, ORG_B, start="2025-04-15", end="2025-04-15")
    assert result["possible_duplicate_of"] == sorted([own, other_org["entitlement_id"], suspended])
    # Read back, it names only the grants its reader sees: AGENCY-B's own, without her
    # consent to the others'; an auditor sees all.
    view = ledger.query(ORG_B, "entitlements", PID, "deduplication")["entitlements"]
    mine = {e["entitlement_id"]: e for e in view}
    assert mine[result["entitlement_id"]]["possible_duplicate_of"] == [suspended]
    view = ledger.query(ORG_B, "entitlements", PID, "deduplication", role="auditor")
    everything = {e["entitlement_id"]: e for e in view["entitlements"]}
    assert (
        everything[result["entitlement_id"]]["possible_duplicate_of"]
        == result["possible_duplicate_of"]
    )
    food = grant(ledger, ORG_B, assistance_type="food", start="2025-04-15", end="2025-04-15")
    assert len(food["possible_duplicate_of"]) == 1


def test_the_overlap_index_holds_her_open_entitlements_of_a_type_only(ledger: Ledger) -> None:
    """One key per person and type, so a grant reads it with one point read; it keeps
    what is still open (suspended included), so it does not grow with her past."""
    kept = grant(ledger)["entitlement_id"]
    paused = grant(ledger, ORG_B)["entitlement_id"]
    ledger.submit(ORG_B, entitlement_step("suspended", paused))
    for step in ("revoked", "closed"):
        gone = grant(ledger, ORG_C)["entitlement_id"]
        ledger.submit(ORG_C, entitlement_step(step, gone))
    grant(ledger, assistance_type="food")
    index = json.loads(ledger.stub.state[open_entitlements_key(PID, "cash")])
    assert [e["entitlement_id"] for e in index["open"]] == sorted([kept, paused])
    ledger.submit(ORG_B, entitlement_step("resumed", paused))
    ledger.submit(ORG_B, entitlement_step("closed", paused))
    index = json.loads(ledger.stub.state[open_entitlements_key(PID, "cash")])
    assert [e["entitlement_id"] for e in index["open"]] == [kept]


def test_a_grant_continues_an_entitlement_of_the_same_person(ledger: Ledger) -> None:
    cited = grant(ledger)["entitlement_id"]
    result = grant(
        ledger, ORG_C, continues_entitlement_id=cited, start="2025-06-01", end="2025-08-31"
    )
    assert result["possible_duplicate_of"] == []
    history = ledger.query(ORG_C, "history", PID, "service_continuity")["events"]
    assert history[-1]["event"]["continues_entitlement_id"] == cited


@pytest.mark.parametrize(
    ("cited_pid", "error", "code"),
    [
        (None, NotFoundError, "entitlement_not_found"),
        (PID_2, ValidationError, "continued_pid_mismatch"),
    ],
)
def test_continuing_an_unknown_or_someone_elses_entitlement_is_refused(
    ledger: Ledger, cited_pid: str | None, error: type[Exception], code: str
) -> None:
    """The attack: citing an entitlement that does not exist, or another person's, to
    make a grant look like a continuation. Refused, and nothing is written."""
    cited = (
        "00000000-0000-4000-8000-000000000000"
        if cited_pid is None
        else grant(ledger, pid=cited_pid)["entitlement_id"]
    )
    size = len(ledger.query(ORG_A, "history", PID, "service_continuity")["events"])
    with pytest.raises(error) as info:
        grant(ledger, ORG_C, continues_entitlement_id=cited)
    assert (info.value.code, info.value.field) == (code, "continues_entitlement_id")  # type: ignore[attr-defined]
    assert len(ledger.query(ORG_A, "history", PID, "service_continuity")["events"]) == size
