"""Strict per-event-type schemas: an event is a flat JSON object of known, patterned fields.

Rejecting unknown fields and any string outside its pattern is the ledger's main
defence against personal data: there is no field where free text could go.
Errors name the field and are reported in a fixed order (type, unknown fields
sorted, missing fields in schema order, then values in schema order), so the same
bad input always yields the same error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from chaincode import fields as f
from chaincode.errors import ValidationError

MAX_EVENT_BYTES = 4096
MAX_LIST_ITEMS = 64

Event = dict[str, Any]
Check = Callable[[str, object], None]


@dataclass(frozen=True)
class Spec:
    check: Check
    required: bool = True


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("invalid_type", f"{name} must be a string", name)
    return value


def pattern(regex: re.Pattern[str]) -> Check:
    def check(name: str, value: object) -> None:
        if not f.matches(regex, _string(name, value)):
            raise ValidationError("invalid_format", f"{name} does not match its pattern", name)

    return check


def identifier(regex: re.Pattern[str]) -> Check:
    def check(name: str, value: object) -> None:
        if not f.is_code(regex, _string(name, value)):
            raise ValidationError("invalid_format", f"{name} does not match its pattern", name)

    return check


def code(vocabulary: frozenset[str]) -> Check:
    def check(name: str, value: object) -> None:
        if _string(name, value) not in vocabulary:
            raise ValidationError("invalid_code", f"{name} is not in its vocabulary", name)

    return check


def iso_date(name: str, value: object) -> None:
    if f.parse_date(_string(name, value)) is None:
        raise ValidationError("invalid_format", f"{name} must be a real date YYYY-MM-DD", name)


def timestamp(name: str, value: object) -> None:
    """A transaction timestamp's one spelling (UTC, microseconds, "Z"), a real instant."""
    text = _string(name, value)
    if not f.matches(f.TIMESTAMP, text) or not _real_instant(text[:-1]):
        raise ValidationError("invalid_format", f"{name} must be YYYY-MM-DDTHH:MM:SS.ffffffZ", name)


def _real_instant(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def amount(name: str, value: object) -> None:
    text = _string(name, value)
    if not f.matches(f.AMOUNT, text):
        raise ValidationError("invalid_format", f"{name} must be a decimal string", name)
    if f.parse_amount(text) is None:
        raise ValidationError("invalid_value", f"{name} must be greater than zero", name)


def code_list(item: Check) -> Check:
    """A non-empty list of distinct items, each passing `item`."""

    def check(name: str, value: object) -> None:
        if not isinstance(value, list):
            raise ValidationError("invalid_type", f"{name} must be a list", name)
        if not value or len(value) > MAX_LIST_ITEMS:
            raise ValidationError("invalid_value", f"{name} must hold 1 to 64 items", name)
        for element in value:
            item(name, element)
        if len(set(value)) != len(value):
            raise ValidationError("invalid_value", f"{name} has repeated items", name)

    return check


def grantees(name: str, value: object) -> None:
    """Sorted distinct org IDs, or exactly ["*"] for the whole consortium."""
    if value == [f.ALL_GRANTEES]:
        return
    code_list(identifier(f.ORG_ID))(name, value)
    assert isinstance(value, list)
    if value != sorted(value):
        raise ValidationError("invalid_value", f"{name} must be sorted", name)


UUID = Spec(pattern(f.UUID))

SCHEMAS: Mapping[str, Mapping[str, Spec]] = {
    "referral.created": {
        "referral_id": UUID,
        "pid": Spec(pattern(f.PID)),
        "to_org": Spec(identifier(f.ORG_ID)),
        "sector": Spec(code(f.SECTORS)),
        "urgency": Spec(code(f.URGENCIES)),
        "document_hash": Spec(pattern(f.SHA256_HEX)),
        "parent_referral_id": Spec(pattern(f.UUID), required=False),
        "consent_id": Spec(pattern(f.UUID), required=False),
    },
    "referral.accepted": {"referral_id": UUID},
    "referral.declined": {"referral_id": UUID, "reason": Spec(code(f.DECLINE_REASONS))},
    "referral.completed": {"referral_id": UUID, "outcome": Spec(code(f.OUTCOMES))},
    "referral.cancelled": {"referral_id": UUID, "reason": Spec(code(f.CHANGE_REASONS))},
    "referral.handed_over": {"referral_id": UUID, "document_hash": Spec(pattern(f.SHA256_HEX))},
    "entitlement.granted": {
        "entitlement_id": UUID,
        "pid": Spec(pattern(f.PID)),
        "programme": Spec(identifier(f.PROGRAMME)),
        "assistance_type": Spec(code(f.ASSISTANCE_TYPES)),
        "modality": Spec(code(f.MODALITIES)),
        "amount": Spec(amount),
        "currency": Spec(code(f.CURRENCIES)),
        "start": Spec(iso_date),
        "end": Spec(iso_date),
        "location": Spec(pattern(f.PCODE), required=False),
        # the entitlement this one continues, e.g. the one a verified credential names
        "continues_entitlement_id": Spec(pattern(f.UUID), required=False),
    },
    "assistance.delivered": {
        "entitlement_id": UUID,
        "amount": Spec(amount),
        "currency": Spec(code(f.CURRENCIES)),
        "date": Spec(iso_date),
        "location": Spec(pattern(f.PCODE), required=False),
    },
    "entitlement.suspended": {"entitlement_id": UUID, "reason": Spec(code(f.CHANGE_REASONS))},
    "entitlement.resumed": {"entitlement_id": UUID},
    "entitlement.revoked": {"entitlement_id": UUID, "reason": Spec(code(f.CHANGE_REASONS))},
    "entitlement.closed": {
        "entitlement_id": UUID,
        "reason": Spec(code(f.CLOSE_REASONS), required=False),
    },
    "consent.granted": {
        "consent_id": UUID,
        "pid": Spec(pattern(f.PID)),
        "grantees": Spec(grantees),
        "purposes": Spec(code_list(code(f.PURPOSES))),
        "data_categories": Spec(code_list(code(f.DATA_CATEGORIES))),
        "lawful_basis": Spec(code(f.LAWFUL_BASES)),
        "expires": Spec(iso_date),
        "form_hash": Spec(pattern(f.SHA256_HEX)),
    },
    "consent.revoked": {
        "consent_id": UUID,
        "reason": Spec(code(f.CHANGE_REASONS), required=False),
    },
}
EVENT_TYPES: frozenset[str] = frozenset(SCHEMAS)
CAPTURED_AT = Spec(timestamp, required=False)


def fields_of(event_type: str) -> dict[str, Spec]:
    """All fields of a type, in validation order: event_id, type, then the type's own, then
    when it was captured, for an event logged later than it happened (an offline gateway)."""
    return {
        "event_id": UUID,
        "type": Spec(code(EVENT_TYPES)),
        **SCHEMAS[event_type],
        "captured_at": CAPTURED_AT,
    }


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValidationError("duplicate_field", "a field appears twice", None)
        out[key] = value
    return out


def _no_constants(token: str) -> Any:
    raise ValidationError("invalid_json", f"{token} is not JSON", None)


def parse_event(raw: bytes) -> Event:
    """Decode and validate one event; returns it as a plain dict or raises ValidationError."""
    if len(raw) > MAX_EVENT_BYTES:
        raise ValidationError("too_large", f"events are limited to {MAX_EVENT_BYTES} bytes")
    data = _parse_canonical(raw)
    if data is None:
        data = _parse_strictly(raw)
    validate(data)
    return data


def _parse_canonical(raw: bytes) -> dict[str, Any] | None:
    """The fast path: input that is already canonical JSON, as every gateway sends it.

    Bytes that re-encode to themselves cannot hold a repeated field (the copy would be
    missing from the re-encoding) nor anything orjson reads differently from the
    standard library; anything else takes the strict path, so both paths agree.
    """
    try:
        data = orjson.loads(raw)
        same = type(data) is dict and orjson.dumps(data, option=orjson.OPT_SORT_KEYS) == raw
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return data if same else None


def _parse_strictly(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constants,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValidationError("invalid_json", "the event is not valid UTF-8 JSON") from exc
    if not isinstance(data, dict):
        raise ValidationError("invalid_type", "the event must be a JSON object")
    return data


def validate(event: Mapping[str, object]) -> None:
    if "type" not in event:
        raise ValidationError("missing_field", "type is required", "type")
    event_type = event["type"]
    code(EVENT_TYPES)("type", event_type)
    assert isinstance(event_type, str)
    specs = fields_of(event_type)
    for name in sorted(event):
        if name not in specs:
            raise ValidationError("unknown_field", "field not allowed for this type", name)
    for name, spec in specs.items():
        if spec.required and name not in event:
            raise ValidationError("missing_field", f"{name} is required", name)
    for name, spec in specs.items():
        if name in event:
            spec.check(name, event[name])
    if event_type == "entitlement.granted" and str(event["end"]) < str(event["start"]):
        raise ValidationError("invalid_value", "end must not be before start", "end")
