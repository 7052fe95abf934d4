"""JSON from outside, read once from its bytes and held to I-JSON (RFC 7493).

Python's parser lets the last of two equal keys win, recurses until the interpreter's
stack gives out, hands over lone UTF-16 surrogates that no database or encoder will
take, and reads integers of any size, which SQLite and every JavaScript reader cannot
hold. A request body, an uploaded audit bundle and a bundle an auditor verifies offline
are all read here instead, so each of these is refused with its own code before
anything acts on it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ledger_gw.errors import MalformedError

#: Deeper than any document this project reads or writes, far from the parser's stack.
MAX_DEPTH = 32
#: I-JSON's interoperable integers: exact in a double, and in SQLite's 64-bit INTEGER.
MAX_INTEGER = 2**53 - 1
_LONGEST_INTEGER = len(str(MAX_INTEGER)) + 1  # with a minus sign
_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The value of a JSON text; raises :class:`MalformedError` with a stable code:
    ``malformed_request`` (not UTF-8 JSON), ``duplicate_key``, ``too_deep``,
    ``lone_surrogate``, ``number_out_of_range``."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise MalformedError(f"the body is not UTF-8: {exc.reason}") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except RecursionError as exc:
        raise _too_deep(max_depth) from exc
    except json.JSONDecodeError as exc:
        raise MalformedError(f"the body is not valid JSON: {exc}") from exc
    _check(value, max_depth)
    return value


def object_of(data: bytes | str) -> dict[str, Any]:
    """The JSON object in ``data``, else {}: for a body that only informs, such as another
    server's refusal (a proxy's HTML page, or a hostile one, is no problem+json)."""
    try:
        value = loads(data)
    except MalformedError:
        return {}
    return value if isinstance(value, dict) else {}


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedError(f"the key {key!r} appears twice", code="duplicate_key")
        out[_text(key)] = value
    return out


def _integer(token: str) -> int:
    if len(token) > _LONGEST_INTEGER or abs(value := int(token)) > MAX_INTEGER:
        raise _out_of_range(token)
    return value


def _float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _out_of_range(token)
    return value


def _constant(token: str) -> Any:
    raise MalformedError(f"{token} is not JSON")


def _text(value: str) -> str:
    if not value.isascii() and _SURROGATE.search(value):
        raise MalformedError(
            "a string holds a lone UTF-16 surrogate, which is no character",
            code="lone_surrogate",
        )
    return value


def _check(value: Any, max_depth: int) -> None:
    """Nesting depth and string values, walked without recursion (keys are checked as
    each object is read)."""
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, str):
            _text(item)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            children = item.values() if isinstance(item, dict) else item
            todo.extend((child, depth + 1) for child in children)


def _too_deep(max_depth: int) -> MalformedError:
    return MalformedError(f"JSON nested deeper than {max_depth} levels", code="too_deep")


def _out_of_range(token: str) -> MalformedError:
    shown = token if len(token) <= 24 else f"{token[:20]}..."
    return MalformedError(
        f"the number {shown} is outside the range this gateway reads exactly "
        f"(integers up to ±{MAX_INTEGER}, finite decimals)",
        code="number_out_of_range",
    )
