"""The log entry: the exact bytes that become a Merkle leaf.

An entry holds the signed transaction, the contract's result, and a digest of
everything the contract did with it (writes and events), so an auditor can check
the signature and the outcome from the entry alone, and a verifier that replays
the contract can check the effects position by position.

The proposal is carried as canonical JSON with its creator named by certificate
reference (SHA-256 of the DER), the certificate itself stored once beside the log:
what it says (creator, function, arguments) and the bytes that were signed are
rebuilt by :class:`ledger_gw.transaction.Proposal`, so the log's framing stays apart
from the transaction's meaning.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaincode.canonical import canonical_json

_LENGTH = struct.Struct(">I")  # 4-byte big-endian lengths


def effects_digest(
    writes: Sequence[tuple[bytes, bytes]], events: Sequence[tuple[str, bytes]]
) -> str:
    """SHA-256 over length-prefixed writes (sorted by key) and events, in order."""
    parts = [b"effects/v1"]
    for tag, items in ((b"W", writes), (b"E", [(n.encode(), p) for n, p in events])):
        parts += (tag, _LENGTH.pack(len(items)))
        for a, b in items:
            parts += (_LENGTH.pack(len(a)), a, _LENGTH.pack(len(b)), b)
    return hashlib.sha256(b"".join(parts)).hexdigest()


@dataclass(frozen=True)
class Entry:
    proposal: bytes  # the proposal, canonical JSON, its creator a certificate reference
    signature: bytes  # the submitter's signature over ``proposal``
    result: bytes  # the contract's canonical JSON answer
    effects: str  # effects_digest() of its writes and events

    def to_bytes(self) -> bytes:
        """Canonical JSON of {"effects", "result", "tx"}, assembled from parts that are
        canonical already (the signed payload, the contract's result), in key order."""
        return b"".join(
            (
                b'{"effects":"',
                self.effects.encode(),
                b'","result":',
                self.result,
                b',"tx":{"proposal":',
                self.proposal,
                b',"signature":"',
                base64.b64encode(self.signature),
                b'"}}',
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """Parse an entry; raises ValueError on anything that is not one."""
        try:
            obj: Any = json.loads(data)
            if set(obj) != {"tx", "result", "effects"} or set(obj["tx"]) != {
                "proposal",
                "signature",
            }:
                raise ValueError("unexpected fields")
            if not isinstance(obj["tx"]["proposal"], dict):
                raise ValueError("the proposal is not an object")
            entry = cls(
                proposal=canonical_json(obj["tx"]["proposal"]),
                signature=base64.b64decode(obj["tx"]["signature"], validate=True),
                result=canonical_json(obj["result"]),
                effects=str(obj["effects"]),
            )
        except Exception as exc:
            raise ValueError(f"not a log entry: {exc}") from exc
        if entry.to_bytes() != data:
            raise ValueError("entry is not in canonical form")
        return entry
