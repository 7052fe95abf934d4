"""Entries and values are stored deflated, and read back as written, or not at all."""

from __future__ import annotations

import os
import zlib

import pytest

from chaincode.canonical import canonical_json
from ledger_gw.embedded.packing import _DICTIONARY_1, pack, unpack
from ledger_gw.errors import IntegrityError

ENTRY = (
    b'{"effects":"00","result":{"event_id":"e-1","pid":"h.abc"},"tx":{"proposal":'
    b'{"args":[{"type":"consent.granted"}],"function":"submit"},"signature":"MEUCIQ=="}}'
)


@pytest.mark.parametrize("data", [b"", b"{}", ENTRY, bytes(range(256)) * 8])
def test_round_trip(data: bytes) -> None:
    assert unpack(pack(data)) == data


VALUE = canonical_json(
    {
        "amount": "120.00", "assistance_type": "cash", "created_at": "2026-03-01T10:00:00.000000Z",
        "currency": "USD", "delivered": "40.00", "end": "2026-06-30",
        "entitlement_id": "0b6f1c3e-8a55-4f0e-9c1d-2f7d8e9a0b1c", "granted_by": "ORG-1",
        "location": None, "modality": "cash", "possible_duplicate_of": [], "pid": "h." + "a" * 26,
        "programme": "MPCA-2026", "reason": None, "start": "2026-03-01", "state": "active",
        "updated_at": "2026-04-01T10:00:00.000000Z",
    }
)  # fmt: skip


def _with_zlib_defaults(data: bytes) -> bytes:
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=_DICTIONARY_1)
    return b"\x01" + deflate.compress(data) + deflate.flush()


@pytest.mark.parametrize(
    "data", [ENTRY, VALUE, ENTRY * 3 + VALUE * 3], ids=["entry", "value", "6kB"]
)
def test_the_small_window_stores_what_zlib_defaults_store(data: bytes) -> None:
    assert pack(data) == _with_zlib_defaults(data)


def test_what_a_32_kib_window_stored_still_reads() -> None:
    block = os.urandom(2000)
    data = block + os.urandom(20_000) + block  # a repeat 22 kB back
    stored = _with_zlib_defaults(data)
    assert len(stored) < len(data) - 1500  # deflate reached back for it
    assert unpack(stored) == data
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
