"""How the embedded ledger stores log entries and world-state values: deflated.

Entries and values are small JSON documents that repeat the same field names and
vocabulary; each is deflated on its own (so one is read without its neighbours) with a
preset dictionary of that vocabulary, which deflate draws on as if it had just seen it.
Stored bytes are a format byte, then raw deflate (RFC 1951, by the stdlib's zlib) of
the bytes written: what the Merkle tree commits to, what a value was. A leaf hash, a
proof, a bundle or a tile is over the bytes written, never the stored ones.

Deflate's output is not canonical (another zlib may deflate the same bytes otherwise),
so nothing compares stored bytes: a check inflates them first.
"""

from __future__ import annotations

import zlib

from ledger_gw.errors import IntegrityError

# Field names and values that entries and world-state values repeat (never a member's
# name: the library knows none); deflate refers best to what is nearest the end. Part
# of the stored format: a change is a new format byte, the old dictionary kept for what
# was stored with it.
_DICTIONARY_1 = b"".join(
    [
        b'{"amount":"","assistance_type":"cash","created_at":"","currency":"USD",'
        b'"delivered":"","end":"","entitlement_id":"","granted_by":"","location":null,'
        b'"modality":"cash","possible_duplicate_of":[],"programme":"","reason":null,',
        b'{"collected_by":"","consent_id":"","data_categories":["entitlements",'
        b'"referrals"],"expires":"","form_hash":"","granted_at":"","grantees":["*"],'
        b'"lawful_basis":"consent","purposes":["deduplication","referral"],'
        b'"revoke_reason":null,"revoked_at":null,"revoked_by":null,"state":"granted"}',
        b'{"consent_id":null,"created_at":"","document_hash":"","from_org":"",'
        b'"outcome":"service_provided","parent_referral_id":null,"reason":null,'
        b'"referral_id":"","sector":"health","state":"completed","to_org":"",'
        b'"updated_at":"","urgency":"routine"}',
        b'"start":"","state":"active"}{"hash":"","result":,"timestamp":"',
        b'{"category":"assistance","event":,"org":"","pid":"h.","timestamp":"',
        b'","tx_id":"',
        b'{"effects":"","result":{"delivered":"","entitlement_id":"","event_id":"",'
        b'"pid":"h.","remaining":"","timestamp":"","tx_id":"",'
        b'"type":"assistance.delivered"},"tx":{"proposal":{"args":[{"amount":"",'
        b'"currency":"USD","date":"","entitlement_id":"","event_id":"",'
        b'"type":"assistance.delivered"}],"creator":"","function":"submit","nonce":"",'
        b'"timestamp":"Z"},"signature":"MEUCIQ"}}',
    ]
)
_FORMAT = 1
_DICTIONARIES = {_FORMAT: _DICTIONARY_1}
_LEVEL = 6  # level 9 stores no fewer bytes here, and costs more
# The smallest window and hash that change no stored byte of what entries and values are
# (the dictionary and a few kB): zlib's defaults (32 kB window, 8 of memory) take 256 kB
# per call to set up and clear, three times the deflating of a value. Inflating reads any
# window up to 32 kB, so what was stored with the defaults reads the same.
_WINDOW_BITS, _MEMORY_LEVEL = 13, 6
# The most an entry or a value may inflate to: far beyond what the contract writes (an
# event is at most 4 KiB; the longest value, a person's index of her open entitlements
# of one type, grows by some 90 bytes an entitlement). Deflate inflates to over a
# thousand times its size, so a stored form of a few MB could fill a reader's memory:
# it is refused once this much of it is inflated.
MAX_UNPACKED = 16 << 20


def pack(data: bytes) -> bytes:
    """The stored form of an entry or a value."""
    deflate = zlib.compressobj(
        _LEVEL, zlib.DEFLATED, -_WINDOW_BITS, _MEMORY_LEVEL, zdict=_DICTIONARY_1
    )
    return bytes((_FORMAT,)) + deflate.compress(data) + deflate.flush()


def unpack(stored: bytes) -> bytes:
    """The bytes written, from their stored form; IntegrityError when it is none."""
    dictionary = _DICTIONARIES.get(stored[0]) if stored else None
    if dictionary is None:
        raise IntegrityError("a stored entry or value is in no format this ledger writes")
    inflate = zlib.decompressobj(-15, zdict=dictionary)
    try:
        data = inflate.decompress(stored[1:], MAX_UNPACKED + 1)
    except zlib.error as exc:
        raise IntegrityError(f"a stored entry or value does not inflate: {exc}") from exc
    if len(data) > MAX_UNPACKED:
        raise IntegrityError(f"a stored entry or value inflates to over {MAX_UNPACKED} bytes")
    if not inflate.eof or inflate.unused_data:
        raise IntegrityError("a stored entry or value does not inflate to its end")
    return data
