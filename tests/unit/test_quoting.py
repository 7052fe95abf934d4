"""A world-state value stores what it does not quote of its entry, and is restored whole."""

from __future__ import annotations

import pytest

from ledger_gw.embedded.quoting import QUOTE_MIN, parts_of, restored, stored
from ledger_gw.errors import IntegrityError

EVENT = b'{"event_id":"e-1","pid":"P-0001","type":"consent.granted","x":"' + b"y" * 40 + b'"}'
RESULT = b'{"event_id":"e-1","pid":"P-0001","timestamp":"2026-01-01T00:00:00.000000Z"}'
ENTRY = b'{"effects":"00","result":' + RESULT + b',"tx":{"proposal":{"args":[' + EVENT + b"]}}}"


def test_a_value_quotes_the_longest_part_it_contains_and_is_restored() -> None:
    value = b'{"category":"c","event":' + EVENT + b',"result":' + RESULT + b"}"
    kept = stored(value, parts_of(ENTRY, [RESULT, EVENT]))
    assert kept.at is not None
    assert kept.start is not None
    assert kept.length == len(EVENT)  # the longer of the two
    assert EVENT not in kept.value
    assert ENTRY[kept.start : kept.start + kept.length] == EVENT
    assert restored(kept.value, kept.at, EVENT) == value


def test_short_parts_and_parts_the_entry_lacks_are_copied() -> None:
    short = b'"pid":"P-1"'
    assert len(short) < QUOTE_MIN
    assert parts_of(ENTRY + short, [short, b"z" * 64]) == []
    value = b'{"x":' + EVENT + b"}"
    assert stored(value, []) == (value, None, None, None)
    assert restored(value, None, None) == value


def test_a_value_whose_entry_is_missing_is_refused() -> None:
    with pytest.raises(IntegrityError, match="missing"):
        restored(b"{}", 1, None)
