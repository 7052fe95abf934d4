"""One entry's proof as a C2SP tlog-proof file (https://c2sp.org/tlog-proof): exported from
the embedded log, checked offline against a pinned consortium file.

The file carries hashes only, never the entry: whoever checks it brings the entry (or
just its leaf hash) from wherever they may read it.
"""

from __future__ import annotations

import base64
from typing import Any

from ledger_gw.audit.tlog_proof import ProvenEntry, verify_tlog_proof
from ledger_gw.consortium import Consortium
from ledger_gw.errors import UnsupportedError, ValidationError
from ledger_gw.interfaces import VerifiableLog, reveal_none
from ledger_gw.log.tlog_proof import TlogProof, is_tlog_proof

__all__ = ["ProvenEntry", "export", "is_tlog_proof", "verify"]


def export(log: VerifiableLog, index: int | None, tx_id: str | None, size: int | None) -> str:
    """The tlog-proof of one entry (by position or transaction ID) at tree ``size``."""
    answer: Any = log.inclusion(index, tx_id, size, reveal_none)  # hashes only, never the entry
    if not isinstance(answer.get("checkpoint"), str):
        raise UnsupportedError(
            "a tlog-proof proves a leaf of a Merkle tree: on Hyperledger Fabric the proof "
            "of a transaction is its block, as `prove inclusion` prints it in JSON",
            code="no_tlog_proof",
        )
    proof = tuple(base64.b64decode(h) for h in answer["proof"])
    return TlogProof(int(answer["index"]), proof, answer["checkpoint"]).text()


def verify(
    data: bytes,
    consortium: Consortium,
    *,
    entry: bytes | None = None,
    leaf_hash: bytes | None = None,
    quorum: int = 1,
) -> ProvenEntry:
    """Check a tlog-proof file for an entry (its leaf bytes) or only its leaf hash."""
    if entry is None and leaf_hash is None:
        raise ValidationError(
            "a tlog-proof proves one entry: give the entry or its leaf hash", field="--entry"
        )
    return verify_tlog_proof(
        TlogProof.parse(data), consortium, entry=entry, leaf=leaf_hash, quorum=quorum
    )
