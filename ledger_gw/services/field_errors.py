"""Every field error of an event at once, each naming what the field would accept.

The contract stops at its first error, which is right for a ledger that only has to
refuse. A caseworker's form is better served by the whole list: this module runs the
contract's own field checks one by one, in the contract's order, so the first error it
lists is the one the contract would raise, and adds the allowed values or the pattern
from the contract's schema.
"""

from __future__ import annotations

from collections.abc import Mapping

from chaincode import schemas as s
from chaincode.errors import ValidationError as ContractValidationError
from ledger_gw.errors import FieldError, InvalidEventError
from ledger_gw.services.event_schema import field_schema

__all__ = ["FieldError", "InvalidEventError", "contract_errors"]


def _hints(event_type: object, name: str) -> tuple[tuple[str, ...] | None, str | None]:
    schema = field_schema(event_type, name)
    if schema is None:
        return None, None
    if schema.get("type") == "array" and "items" in schema:
        schema = schema["items"]
    if "enum" in schema:
        return tuple(schema["enum"]), None
    return None, schema.get("pattern")


def _error(event_type: object, exc: ContractValidationError, name: str) -> FieldError:
    allowed, pattern = _hints(event_type, name)
    return FieldError(name, exc.code, exc.message, allowed, pattern)


def _check(event_type: object, name: str, check: s.Check, value: object) -> list[FieldError]:
    try:
        check(name, value)
    except ContractValidationError as exc:
        return [_error(event_type, exc, name)]
    return []


def contract_errors(event: Mapping[str, object]) -> list[FieldError]:
    """The contract's field errors of one event, all of them, in the contract's order."""
    if "type" not in event:
        return [FieldError("type", "missing_field", "type is required", tuple(sorted(s.SCHEMAS)))]
    event_type = event["type"]
    if not isinstance(event_type, str) or event_type not in s.SCHEMAS:
        found = _check(None, "type", s.code(s.EVENT_TYPES), event_type)
        if "event_id" in event:
            found += _check(None, "event_id", s.UUID.check, event["event_id"])
        return found
    specs = s.fields_of(str(event_type))
    names = tuple(specs)
    found = [
        FieldError(name, "unknown_field", "field not allowed for this type", names)
        for name in sorted(event)
        if name not in specs
    ]
    found += [
        FieldError(name, "missing_field", f"{name} is required", *_hints(event_type, name))
        for name, spec in specs.items()
        if spec.required and name not in event
    ]
    for name, spec in specs.items():
        if name in event:
            found += _check(event_type, name, spec.check, event[name])
    if not found:
        try:
            s.validate(event)  # the rules across fields (an entitlement's end after its start)
        except ContractValidationError as exc:
            found.append(FieldError(exc.field or "event", exc.code, exc.message))
    return found
