"""Submitting events: checked here with the contract's own schemas, then signed and sent.

Checking before signing means a batch with one bad event is refused whole and nothing
of it reaches the ledger. The contract checks its patterns again, and a log node the
vocabulary too: the gateway is not trusted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from chaincode.canonical import canonical_json
from chaincode.errors import ContractError
from chaincode.schemas import parse_event
from ledger_gw.errors import FieldError, InvalidEventError, ValidationError
from ledger_gw.interfaces import Outcome
from ledger_gw.pii_guard import captured_findings
from ledger_gw.services.access import Caller
from ledger_gw.services.field_errors import contract_errors
from ledger_gw.services.gateway import Gateway


def check_event(gateway: Gateway, event: Any, where: str = "") -> dict[str, Any]:
    """The contract's own schema check, then the consortium vocabulary
    (ledger_gw.pii_guard, which the log node holds too); every field error at once
    (InvalidEventError)."""
    checked, found = event_errors(gateway, event, where)
    if found:
        raise InvalidEventError(found)
    assert checked is not None
    return checked


def event_errors(
    gateway: Gateway, event: Any, where: str = ""
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The checked event, or every field error it has (fields prefixed by `where`)."""
    if not isinstance(event, Mapping):
        return None, [FieldError(where or "event", "invalid_type", "an event must be an object")]
    found = contract_errors(event)
    if not found:
        try:  # what the field checks alone do not see: the contract's size bound
            checked = parse_event(canonical_json(dict(event)))
        except ContractError as exc:
            found = [FieldError(exc.field or "event", exc.code, exc.message)]
        except (TypeError, ValueError):
            found = [FieldError("event", "invalid_value", "the event is not valid")]
        else:
            now = dt.datetime.now(dt.UTC)
            found = captured_findings(checked, gateway.workspace.consortium, now)
            if not found:
                return checked, []
    return None, [e.under(where) for e in found]


def submit(gateway: Gateway, caller: Caller, event: Any) -> tuple[dict[str, Any], str]:
    """The contract's result and what this call did: accepted (appended), replayed, or
    queued (kept in an offline gateway's outbox: the result then says only that)."""
    checked = check_event(gateway, event)
    outcome = gateway.client(caller).submit_many([checked])[0]
    return outcome.unwrap(), _status(outcome)


def _status(outcome: Outcome) -> str:
    if outcome.queued:
        return "queued"
    return "accepted" if outcome.position is not None else "replayed"


def submit_batch(gateway: Gateway, caller: Caller, events: Sequence[Any]) -> list[dict[str, Any]]:
    """Each event gets its own outcome; a malformed event refuses the whole batch first."""
    if not events:
        raise ValidationError("events must not be empty", code="invalid_value", field="events")
    if len(events) > gateway.config.max_batch:
        raise ValidationError(
            f"at most {gateway.config.max_batch} events", code="too_large", field="events"
        )
    results = [event_errors(gateway, e, f"events[{i}]") for i, e in enumerate(events)]
    found = [error for _, errors in results for error in errors]
    if found:
        raise InvalidEventError(found)
    checked = [event for event, _ in results if event is not None]
    ids = [e["event_id"] for e in checked]
    if len(set(ids)) != len(ids):
        raise ValidationError("event IDs repeat", code="duplicate_event_id", field="events")
    outcomes = gateway.client(caller).submit_many(checked)
    out: list[dict[str, Any]] = []
    for event, outcome in zip(checked, outcomes, strict=True):
        item: dict[str, Any] = {"event_id": event["event_id"]}
        if outcome.error is not None:
            err = outcome.error
            item.update(
                status="rejected",
                error={"kind": err.kind, "code": err.code, "detail": str(err), "field": err.field},
            )
        else:
            item.update(status=_status(outcome), result=outcome.result)
        out.append(item)
    return out
