"""World-state values that hold a part of their log entry by reference, not by copy.

What a transaction writes often contains, byte for byte, a part of the entry that logs
it: the contract keeps the event it records and the result it answered. The entry is
already stored; the value keeps the rest and where the part goes (``at``), with where
the entry holds it (``start``, ``length``). Which part, and where, follows from the
entry and the value alone, so a replay stores exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ledger_gw.errors import IntegrityError

QUOTE_MIN = 32  # shorter parts cost more to name than to copy


class Stored(NamedTuple):
    value: bytes  # the value without the quoted part
    at: int | None  # where in the value the part goes; None: nothing quoted
    start: int | None  # where the entry holds it
    length: int | None


def parts_of(entry: bytes, candidates: Sequence[bytes]) -> list[tuple[bytes, int]]:
    """The candidates worth quoting that the entry holds, with where it holds each,
    longest first (a value quotes the longest it contains)."""
    found = []
    for part in sorted(candidates, key=len, reverse=True):
        start = entry.find(part) if len(part) >= QUOTE_MIN else -1
        if start >= 0:
            found.append((part, start))
    return found


def stored(value: bytes, parts: Sequence[tuple[bytes, int]]) -> Stored:
    for part, start in parts:
        at = value.find(part)
        if at >= 0:
            return Stored(value[:at] + value[at + len(part) :], at, start, len(part))
    return Stored(value, None, None, None)


def restored(value: bytes, at: int | None, part: bytes | None) -> bytes:
    """The value as written, from its stored form and the part of its entry it quotes."""
    if at is None:
        return value
    if part is None:
        raise IntegrityError("the log entry a world-state value quotes is missing")
    return value[:at] + part + value[at:]
