"""The consortium's administrative codes and programme ceilings: checked when read,
kept when written, optional for files written before they existed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from ledger_gw.consortium import Ceiling, Consortium, Definition
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConfigError, ValidationError
from ledger_gw.pii_guard import DATE_WINDOW, MAX_CAPTURE_AGE, guard, logged_findings
from ledger_gw.workspace import Workspace
from tests.support import events as ev

NETWORK = Path(__file__).parents[2] / "network" / "consortium.toml"
TODAY = dt.date(2026, 6, 1)
GRANT = {"programme": "P-1", "amount": "100", "currency": "USD", "location": "KE01"}


def _definition(**extra: Any) -> dict[str, Any]:
    members = [{"id": "AGENCY-A", "role": "agency"}]
    return {"name": "x", "members": members, "programmes": ["P-1"], **extra}


def test_network_file_lists_codes_and_ceilings() -> None:
    network = Definition.load(NETWORK)
    assert "KE0712345679" not in network.locations
    assert all(p in network.ceilings for p in network.programmes)


def test_older_definition_without_vocabulary_still_reads() -> None:
    old = Definition.from_dict(_definition())
    assert (old.locations, dict(old.ceilings)) == ((), {})
    # ... and its guard falls back to the P-code shape, which a phone number fits.
    guard({**GRANT, "location": "KE0712345679"}, ["AGENCY-A"], ["P-1"], TODAY)


@pytest.mark.parametrize(
    "extra",
    [
        {"locations": ["Nairobi"]},
        {"locations": ["KE01", "KE01"]},
        {"ceilings": {"P-2": {"currency": "USD", "max_amount": "10"}}},
        {"ceilings": {"P-1": {"currency": "dollars", "max_amount": "10"}}},
        {"ceilings": {"P-1": {"currency": "USD", "max_amount": "-1"}}},
        {"ceilings": {"P-1": {"currency": "USD"}}},
        {"ceilings": ["P-1"]},
    ],
)
def test_malformed_vocabulary_is_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Definition.from_dict(_definition(**extra))


@pytest.mark.parametrize(
    ("event", "field", "rule"),
    [
        ({**GRANT, "location": "KE0712345679"}, "location", "unlisted_location"),
        ({**GRANT, "amount": "963944123.45"}, "amount", "above_ceiling"),
        ({**GRANT, "amount": "500.01"}, "amount", "above_ceiling"),
        ({**GRANT, "amount": "963944123.4567"}, "amount", "implausible_value"),
        ({**GRANT, "amount": "1987.0412"}, "amount", "implausible_value"),  # a birth date
        ({**GRANT, "amount": "10.505"}, "amount", "implausible_value"),
        ({"amount": "19.87", "currency": "UGX"}, "amount", "implausible_value"),
        ({**GRANT, "currency": "EUR"}, "currency", "wrong_currency"),
        ({"amount": "500.01", "currency": "USD"}, "amount", "above_ceiling"),
    ],
)
def test_guard_holds_values_to_the_vocabulary(event: dict[str, Any], field: str, rule: str) -> None:
    definition = Definition.from_dict(
        _definition(
            locations=["KE01", "KE0101"],
            ceilings={"P-1": {"currency": "USD", "max_amount": "500"}},
        )
    )
    args = (["AGENCY-A"], definition.programmes, TODAY, definition.locations, definition.ceilings)
    guard({**GRANT, "amount": "500"}, *args)
    with pytest.raises(ValidationError) as info:
        guard(event, *args)
    assert (info.value.field, info.value.code) == (field, rule)


def test_vocabulary_survives_a_round_trip(tmp_path: Path) -> None:
    data = _definition(locations=["KE01"], ceilings={"P-1": {"currency": "KES", "max_amount": "9"}})
    definition = Definition.from_dict(json.loads(json.dumps(data)))
    assert definition.ceilings == {"P-1": Ceiling("KES", "9")}


@pytest.mark.parametrize("org_id", ["AGENCY-A\n", "agency-a", "A", "AGENCY A"])
def test_an_organisation_id_is_the_whole_string(tmp_path: Path, org_id: str) -> None:
    """ "AGENCY-A\\n" is not AGENCY-A: a regex's "$" admits a final newline, the ID's
    check does not (it would be another member with the same name on every page)."""
    data = Workspace.create(tmp_path / "ws", DEMO).consortium.to_dict()
    data["organisations"][0]["id"] = org_id
    with pytest.raises(ConfigError, match="malformed"):
        Consortium.from_dict(data)


def test_a_logged_event_is_judged_by_the_day_it_was_captured(tmp_path: Path) -> None:
    """The log node's reading: dates against the capture an outbox states, not its clock,
    and no stated capture so old that it moves the window."""
    consortium = Workspace.create(tmp_path / "ws", DEMO).consortium
    captured = dt.datetime(2026, 6, 1, 8, tzinfo=dt.UTC)
    signed = captured + dt.timedelta(days=3)
    edge = (captured.date() - DATE_WINDOW + dt.timedelta(days=1)).isoformat()
    event = ev.entitlement_granted(ev.pid(), start=edge, end="2026-12-31")
    stated = {**event, "captured_at": "2026-06-01T08:00:00.000000Z"}
    assert [e.field for e in logged_findings(event, consortium, signed)] == ["start"]
    assert logged_findings(stated, consortium, signed) == []
    long_after = captured + MAX_CAPTURE_AGE + dt.timedelta(days=1)
    assert [e.field for e in logged_findings(stated, consortium, long_after)] == ["captured_at"]
    # A member stating a capture nearly five years back would otherwise have moved the
    # window with it, and let a child's birth date through.
    child = (signed.date() - DATE_WINDOW - dt.timedelta(days=400)).isoformat()
    pushed = {
        **ev.entitlement_granted(ev.pid(), start=child, end="2026-12-31"),
        "captured_at": (signed - DATE_WINDOW + dt.timedelta(days=1)).strftime(
            "%Y-%m-%dT%H:%M:%S.000000Z"
        ),
    }
    assert "captured_at" in [e.field for e in logged_findings(pushed, consortium, signed)]


@pytest.mark.parametrize(
    "event",
    [
        {**ev.entitlement_granted(ev.pid()), "start": "12/04/1987"},
        {**ev.entitlement_granted(ev.pid()), "name": "Fatima"},
        ["not", "an", "event"],
    ],
)
def test_what_the_contract_refuses_is_left_to_it(tmp_path: Path, event: object) -> None:
    """The contract refuses these itself, per transaction, naming the field."""
    consortium = Workspace.create(tmp_path / "ws", DEMO).consortium
    assert logged_findings(event, consortium, dt.datetime.now(dt.UTC)) == []
