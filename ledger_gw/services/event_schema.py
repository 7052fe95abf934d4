"""The contract's event schemas as JSON Schema, read off `chaincode.schemas` itself.

Each field's check is one of a few builders (a pattern, a code-like identifier, a
vocabulary, a list of codes, a date, an amount, the grantees); this module turns each
into its JSON Schema, so the API's documentation and the field errors it sends name the
very patterns and vocabularies the contract enforces. A check it cannot read is an
error at start-up, not a silently vaguer document.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from chaincode import fields as f
from chaincode import schemas as s

JsonSchema = dict[str, Any]

_NO_PERSONAL_DIGITS = f"(?!.*(?:{f.PERSONAL_DIGITS.pattern}))"


def _regex(regex: re.Pattern[str], *, code_like: bool = False) -> JsonSchema:
    guard = _NO_PERSONAL_DIGITS if code_like else ""
    return {"type": "string", "pattern": f"^{guard}(?:{regex.pattern})$"}


def _enum(vocabulary: frozenset[str]) -> JsonSchema:
    return {"type": "string", "enum": sorted(vocabulary)}


def _code_list(item: JsonSchema) -> JsonSchema:
    return {
        "type": "array",
        "items": item,
        "minItems": 1,
        "maxItems": s.MAX_LIST_ITEMS,
        "uniqueItems": True,
    }


_PLAIN: dict[s.Check, JsonSchema] = {
    s.iso_date: {**_regex(f.ISO_DATE), "format": "date", "description": "a real date"},
    s.amount: {
        **_regex(f.AMOUNT),
        "not": {"pattern": r"^0(\.0+)?$"},
        "description": "a decimal string greater than zero, up to 4 decimals",
    },
    s.timestamp: {
        **_regex(f.TIMESTAMP),
        "format": "date-time",
        "description": "a real instant in UTC, to the microsecond: YYYY-MM-DDTHH:MM:SS.ffffffZ",
    },
    s.grantees: {
        "oneOf": [
            {
                "type": "array",
                "items": {"type": "string", "enum": [f.ALL_GRANTEES]},
                "minItems": 1,
                "maxItems": 1,
            },
            {**_code_list(_regex(f.ORG_ID, code_like=True)), "description": "sorted org IDs"},
        ],
        "description": 'sorted distinct organisation IDs, or ["*"] for the whole consortium',
    },
}


def check_schema(check: s.Check) -> JsonSchema:
    """The JSON Schema of one of the contract's field checks."""
    if check in _PLAIN:
        return dict(_PLAIN[check])
    captured = inspect.getclosurevars(check).nonlocals
    builder = check.__qualname__.split(".")[0]
    if builder == "pattern":
        return _regex(captured["regex"])
    if builder == "identifier":
        return _regex(captured["regex"], code_like=True)
    if builder == "code":
        return _enum(captured["vocabulary"])
    if builder == "code_list":
        return _code_list(check_schema(captured["item"]))
    raise TypeError(f"no JSON Schema for the contract's check {check.__qualname__}")


def event_schema(event_type: str) -> JsonSchema:
    """One event type's schema: its own fields only, each required one required."""
    specs = s.fields_of(event_type)
    properties = {name: check_schema(spec.check) for name, spec in specs.items()}
    properties["type"] = {"type": "string", "enum": [event_type]}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [name for name, spec in specs.items() if spec.required],
        "properties": properties,
    }


def field_schema(event_type: object, name: str) -> JsonSchema | None:
    """One field's schema in a type (`event_id` and `type` in any), None if it has none."""
    if not isinstance(event_type, str) or event_type not in s.SCHEMAS:
        if name not in ("event_id", "type"):
            return None
        event_type = next(iter(s.SCHEMAS))
    spec = s.fields_of(str(event_type)).get(name)
    return None if spec is None else check_schema(spec.check)


def schema_name(event_type: str) -> str:
    """`referral.created` → `ReferralCreated`."""
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type))
