"""Submitting events: checked here with the contract's own schemas, then signed and sent.

Checking before signing means a batch with one bad event is refused whole and nothing
of it reaches the ledger. The contract checks again: the gateway is not trusted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from chaincode.canonical import canonical_json
from chaincode.errors import ContractError
from chaincode.schemas import parse_event
from ledger_gw.errors import ValidationError
from ledger_gw.interfaces import Outcome
from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.pii_guard import guard


def check_event(gateway: Gateway, event: Any, where: str = "") -> dict[str, Any]:
    """The contract's own schema check, then the gateway's PII guard."""
    checked = _parse(event, where)
    try:
        consortium = gateway.workspace.consortium
        today = dt.datetime.now(dt.UTC).date()
        guard(
            checked,
            consortium.organisations,
            consortium.programmes,
            today,
            consortium.locations,
            consortium.ceilings,
        )
    except ValidationError as exc:
        exc.field = f"{where}.{exc.field}" if where else exc.field
        raise
    return checked


def _parse(event: Any, where: str) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise ValidationError("an event must be an object", code="invalid_type", field=where)
    try:
        return parse_event(canonical_json(dict(event)))
    except (ContractError, TypeError, ValueError) as exc:
        field = exc.field if isinstance(exc, ContractError) else None
        code = exc.code if isinstance(exc, ContractError) else "invalid_value"
        message = exc.message if isinstance(exc, ContractError) else "the event is not valid"
        path = f"{where}.{field}" if where and field else (field or where or None)
        raise ValidationError(message, code=code, field=path) from None


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
    checked = [check_event(gateway, e, f"events[{i}]") for i, e in enumerate(events)]
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
