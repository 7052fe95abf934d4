"""Canonical JSON (RFC 8785) for the values the ledger holds.

The contract accepts only strings, integers, booleans, null, arrays and objects
with ASCII keys. For that domain, sorted keys, no whitespace, UTF-8 and RFC 8259's
minimal escapes are exactly RFC 8785's output; orjson writes that form, ten times
faster than the standard library, which matters because every event is encoded
several times on the ledger's hot path. Floats are refused.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

_MAX_INT = 2**53 - 1


def _check(value: Any) -> None:
    """Refuse what RFC 8785 would spell differently (floats, integers beyond 2^53)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return
    if kind is int:
        if -_MAX_INT <= value <= _MAX_INT:
            return
        raise TypeError("integer outside the interoperable range")
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                raise TypeError("object keys must be ASCII strings")
            if type(v) is not str:  # the common case needs no call
                _check(v)
        return
    if kind is list or kind is tuple:
        for v in value:
            if type(v) is not str:
                _check(v)
        return
    if kind is float:
        raise TypeError("floats are not canonical: use decimal strings")
    raise TypeError(f"not a JSON value: {kind.__name__}")


_OPTIONS = orjson.OPT_SORT_KEYS


def canonical_json(value: Any) -> bytes:
    _check(value)
    return orjson.dumps(value, option=_OPTIONS)


def canonical_json_of_validated(value: Any) -> bytes:
    """For values built from schema-validated events and the contract's own strings:
    the schemas admit no float and no number outside the safe range, so the walk that
    `canonical_json` makes to refuse them is skipped on the contract's hot path."""
    return orjson.dumps(value, option=_OPTIONS)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()
