"""Hostile edits of a valid file, drawn by hypothesis: what whoever hands a verifier a
file can do to it without the keys that signed it.

JSON documents are edited structurally (keys and items deleted, duplicated, reordered;
values replaced by other types, by values spliced in from another valid file, by
themselves with a byte flipped in their base64 or hex), then written with any layout
and, at one value, raw text no well-behaved encoder writes (NaN, 1e999, lone
surrogates, duplicate keys, deep nesting). Line-based texts (tlog-proofs, signed notes)
have their lines deleted, duplicated, swapped, spliced and flipped.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import string
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]

_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
_ODD: list[Any] = [None, True, False, 0, -1, 1, 2**31, 2**53, 2**63, -(2**64), 10**30]
_ODD += [0.5, -0.0, 1e308, "", "x", "0", "-1", "é", "\u202e", "\x00", "~", "AAAA", "="]
_ODD += ["a" * 70_000, [], {}, [[]], {"": None}]
#: Values of every JSON type, and of sizes and characters a file's author did not expect.
VALUES = st.one_of(
    st.sampled_from(_ODD),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=6), _SCALARS | st.lists(_SCALARS, max_size=2), max_size=3),
)

#: Raw JSON text no encoder writes, each read back by a lenient parser as something.
RAW = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "123456789012345678901234567890",
    '"\\ud800"',
    '"x\\udfff"',
    '"\\u0000"',
    "1.0",
    "-0",
    "1E2",
    "[" * 40 + "]" * 40,
    "[" * 3_000 + "]" * 3_000,
    '{"a": 1, "a": 2}',
]

_MARK = "\x00mutation-mark\x00"
_HEX = re.compile(r"[0-9a-f]{16,}")


def paths(value: Any, path: Path = ()) -> Iterator[Path]:
    """Every path to a value inside ``value``, the root itself not included."""
    children: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        yield (*path, key)
        yield from paths(child, (*path, key))


def get(value: Any, path: Path) -> Any:
    for key in path:
        value = value[key]
    return value


def _set(root: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    get(root, path[:-1])[path[-1]] = value
    return root


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values, telling 1 from 1.0 and from True."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def flipped(data: st.DataObject, text: str) -> str:
    """``text`` with one bit flipped: in the bytes it encodes when it is base64 or hex,
    else in one of its characters."""
    if _HEX.fullmatch(text):
        at = data.draw(st.integers(0, len(text) - 1), label="hex digit")
        digit = "0123456789abcdef"[("0123456789abcdef".index(text[at]) + 1) % 16]
        return text[:at] + digit + text[at + 1 :]
    for alphabet, pad in ((b"+/", True), (b"-_", False)):
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=alphabet, validate=True)
        except (binascii.Error, ValueError):
            continue
        if not raw:
            break
        at = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
        raw = raw[: at // 8] + bytes([raw[at // 8] ^ (1 << at % 8)]) + raw[at // 8 + 1 :]
        out = base64.b64encode(raw, altchars=alphabet).decode()
        return out if pad else out.rstrip("=")
    if not text:
        return data.draw(st.sampled_from(["A", " ", "\x00"]))
    at = data.draw(st.integers(0, len(text) - 1), label="character")
    new = data.draw(
        st.sampled_from(string.printable + "é\u00a0\u2028\ufeff").filter(lambda c: c != text[at])
    )
    return text[:at] + new + text[at + 1 :]


def mutate_text(data: st.DataObject, text: str, donors: Sequence[str] = ()) -> str:
    """One edit of a line-based text: a line deleted, duplicated, swapped, replaced by a
    donor's, flipped or cut short; or the whole text cut short."""
    lines = text.split("\n")
    op = data.draw(
        st.sampled_from(
            ["delete", "duplicate", "swap", "splice", "flip", "cut", "insert", "truncate"]
        ),
        label="text op",
    )
    at = data.draw(st.integers(0, len(lines) - 1), label="line")
    if op == "delete":
        del lines[at]
    elif op == "duplicate":
        lines.insert(data.draw(st.integers(0, len(lines)), label="to"), lines[at])
    elif op == "swap":
        other = data.draw(st.integers(0, len(lines) - 1), label="with")
        lines[at], lines[other] = lines[other], lines[at]
    elif op == "splice" and donors:
        donor = data.draw(st.sampled_from(donors)).split("\n")
        lines[at] = donor[data.draw(st.integers(0, len(donor) - 1), label="donor line")]
    elif op == "flip":
        head, space, tail = lines[at].rpartition(" ")
        lines[at] = f"{head}{space}{flipped(data, tail)}" if tail else flipped(data, lines[at])
    elif op == "cut":
        lines[at] = lines[at][: data.draw(st.integers(0, max(len(lines[at]) - 1, 0)))]
    elif op == "insert":
        lines.insert(at, data.draw(st.text(max_size=40) | st.sampled_from(["", " ", "\r", "—"])))
    else:
        return text[: data.draw(st.integers(0, max(len(text) - 1, 0)), label="truncate at")]
    return "\n".join(lines)


def _edit(data: st.DataObject, doc: Any, donors: Sequence[Any]) -> None:
    """One structural edit of ``doc`` in place."""
    where = list(paths(doc))
    path: Path = data.draw(st.sampled_from(where), label="path") if where else ()
    target = get(doc, path)
    op = data.draw(
        st.sampled_from(["delete", "duplicate", "reorder", "replace", "splice", "flip", "nudge"]),
        label="op",
    )
    if op == "delete" and path:
        parent = get(doc, path[:-1])
        del parent[path[-1]]
    elif op == "duplicate" and path and isinstance(get(doc, path[:-1]), list):
        parent = get(doc, path[:-1])
        parent.insert(data.draw(st.integers(0, len(parent)), label="to"), copy.deepcopy(target))
    elif op == "duplicate" and path:
        parent = get(doc, path[:-1])
        parent[data.draw(st.text(max_size=8), label="new key")] = copy.deepcopy(target)
    elif op == "reorder" and isinstance(target, list | dict) and len(target) > 1:
        items = list(target.items() if isinstance(target, dict) else target)
        order = data.draw(st.permutations(range(len(items))), label="order")
        shuffled = [items[i] for i in order]
        _set(doc, path, dict(shuffled) if isinstance(target, dict) else shuffled)
    elif op == "splice" and donors:
        donor = data.draw(st.sampled_from(donors), label="donor")
        donor_paths = list(paths(donor))
        same = [p for p in donor_paths if p == path]
        chosen = (
            same[0]
            if same and data.draw(st.booleans())
            else data.draw(st.sampled_from(donor_paths), label="donor path")
        )
        _set(doc, path, copy.deepcopy(get(donor, chosen)))
    elif op == "flip" and isinstance(target, str):
        multiline = "\n" in target and data.draw(st.booleans(), label="by line")
        _set(doc, path, mutate_text(data, target) if multiline else flipped(data, target))
    elif op == "nudge" and type(target) is int:
        _set(doc, path, target + data.draw(st.sampled_from([1, -1, 2**32, -(2 * target)])))
    else:
        _set(doc, path, data.draw(VALUES, label="value"))


def mutate_json(
    data: st.DataObject,
    doc: Any,
    donors: Sequence[Any] = (),
    *,
    encode: Callable[[str], str] | None = None,
) -> tuple[str, Any]:
    """A hostile text of ``doc``: one to three structural edits, any layout, maybe raw
    text at one value, maybe cut short. Returns the text and the value a lenient parser
    reads from it (None if it reads none, or a key twice), so that the caller can tell
    an edit that changes nothing. ``encode`` wraps the text (base64url, say)."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(0, 3), label="edits")):
        _edit(data, doc, donors)
    raw = data.draw(st.none() | st.sampled_from(RAW), label="raw")
    where = list(paths(doc))
    if raw is not None and where:
        doc = _set(doc, data.draw(st.sampled_from(where), label="raw at"), _MARK)
    objects = [p for p in [(), *paths(doc)] if isinstance(get(doc, p), dict) and get(doc, p)]
    if raw is None and objects and data.draw(st.integers(0, 9), label="twice?") == 0:
        # one key twice: a lenient reader takes the last, another reader the first
        at = data.draw(st.sampled_from(objects), label="object")
        key = data.draw(st.sampled_from(sorted(get(doc, at))), label="key")
        first = json.dumps(data.draw(VALUES, label="first"))
        raw = f"{{{json.dumps(key)}: {first}, {json.dumps(get(doc, at))[1:]}"
        doc = _set(doc, at, _MARK)
    text = json.dumps(
        doc,
        indent=data.draw(st.sampled_from([None, 0, 2, "\t"]), label="indent"),
        sort_keys=data.draw(st.booleans(), label="sort"),
        ensure_ascii=data.draw(st.booleans(), label="ascii"),
    )
    if raw is not None:
        text = text.replace(json.dumps(_MARK), raw)
    if data.draw(st.integers(0, 9), label="cut?") == 0:
        text = text[: data.draw(st.integers(0, max(len(text) - 1, 0)), label="cut at")]
    try:
        read = json.loads(text, object_pairs_hook=_once)
    except (ValueError, RecursionError):
        read = None
    return (text if encode is None else encode(text)), read


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("a key twice: read differently by different readers")
    return dict(pairs)
