"""Entries and values are stored deflated, and read back as written, or not at all."""

from __future__ import annotations

import pytest

from ledger_gw.embedded.packing import pack, unpack
from ledger_gw.errors import IntegrityError

ENTRY = (
    b'{"effects":"00","result":{"event_id":"e-1","pid":"h.abc"},"tx":{"proposal":'
    b'{"args":[{"type":"consent.granted"}],"function":"submit"},"signature":"MEUCIQ=="}}'
)


@pytest.mark.parametrize("data", [b"", b"{}", ENTRY, bytes(range(256)) * 8])
def test_round_trip(data: bytes) -> None:
    assert unpack(pack(data)) == data


def test_the_vocabulary_costs_little() -> None:
    assert len(pack(ENTRY)) < len(ENTRY) // 2


@pytest.mark.parametrize(
    "stored",
    [b"", b"\x00" + pack(ENTRY)[1:], pack(ENTRY)[:-2], pack(ENTRY) + b"\x00", b"\x01{}"],
    ids=["empty", "format", "truncated", "trailing", "raw"],
)
def test_what_does_not_inflate_is_refused(stored: bytes) -> None:
    with pytest.raises(IntegrityError):
        unpack(stored)
