"""One entry's proof as a C2SP tlog-proof file (https://c2sp.org/tlog-proof): exported from
either backend's log, checked offline against a pinned consortium file.

On the embedded ledger the file carries hashes only, never the entry (it names a
person): whoever checks it brings the entry (or just its leaf hash) from wherever they
may read it. On Fabric it proves the transaction's leaf in the channel's validity log
under the members' quorum-signed checkpoint; the leaf (block, index, transaction ID,
validation code, the block's header hash) names nobody and rides in the ``extra`` line.
It proves that the members' peers committed that transaction there with that code, not
what the transaction says: checking the event takes its block as well
(:mod:`ledger_gw.audit.tlog_proof`).
"""

from __future__ import annotations

import base64
from typing import Any

from ledger_gw.audit.tlog_proof import ProvenEntry, is_validity_proof, verify_tlog_proof
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ConflictError, ValidationError
from ledger_gw.interfaces import VerifiableLog, reveal_none
from ledger_gw.log.tlog_proof import TlogProof, is_tlog_proof
from ledger_gw.services.proofs import ValidityLog

__all__ = ["ProvenEntry", "export", "is_tlog_proof", "verify"]


def export(log: VerifiableLog, index: int | None, tx_id: str | None, size: int | None) -> str:
    """The tlog-proof of one entry (by position or transaction ID) at tree ``size`` (on
    Fabric: at block height ``size``, of the transaction's validity leaf)."""
    extra = None
    if isinstance(log, ValidityLog):
        answer: Any = log.validity_inclusion(index, tx_id, size)
        extra = answer["statement"].encode()
    else:
        answer = log.inclusion(index, tx_id, size, reveal_none)  # hashes only, never the entry
    if not isinstance(answer.get("checkpoint"), str):
        raise ConflictError("this log signs no checkpoint to prove against", code="no_tlog_proof")
    proof = tuple(base64.b64decode(h) for h in answer["proof"])
    return TlogProof(int(answer["index"]), proof, answer["checkpoint"], extra).text()


def verify(
    data: bytes,
    consortium: Consortium,
    *,
    entry: bytes | None = None,
    leaf_hash: bytes | None = None,
    quorum: int = 1,
    genesis_hash: bytes | None = None,
    block: bytes | None = None,
) -> ProvenEntry:
    """Check a tlog-proof file for an entry (its leaf bytes) or only its leaf hash; a
    Fabric validity proof, only against the channel of ``genesis_hash``, for the
    statement it carries, and for the transaction's content when its ``block`` is given."""
    proof = TlogProof.parse(data)
    if genesis_hash is None and (block is not None or is_validity_proof(proof)):
        raise ValidationError(
            "a Fabric validity proof is checked against the channel you pin: "
            "give --genesis-hash (the channel genesis block's header hash)",
            code="trust_root_not_pinned",
            field="--genesis-hash",
        )
    carried = genesis_hash is not None and proof.extra is not None  # a statement it carries
    if entry is None and leaf_hash is None and not carried:
        raise ValidationError(
            "a tlog-proof proves one entry: give the entry or its leaf hash", field="--entry"
        )
    return verify_tlog_proof(
        proof,
        consortium,
        entry=entry,
        leaf=leaf_hash,
        quorum=quorum,
        genesis_hash=genesis_hash,
        block=block,
    )
