"""Checking a C2SP tlog-proof offline, against trust its verifier pins: the consortium's
log key and witness keys, and how many witnesses must have cosigned.

Two logs make such proofs. The embedded ledger's, signed by the log key and cosigned by
witnesses: its leaf is the log entry. And a Fabric channel's validity log
(:mod:`ledger_gw.audit.fabric_validity`, origin ``fabric-validity/<genesis hash>``),
which no log key signs: its checkpoint holds only when the caller pins the channel (its
genesis block's hash) and the pinned consortium's witness keys, each a member's, sign it
in at least the consortium's quorum. Without that pin a proof is held to the embedded
rule (the consortium's origin and log key) whatever origin it names. Its leaf is the
members' statement of one transaction (block, index, ID, validation code, the block's
header hash), which names nobody, so the proof carries it as its ``extra`` line.

What a validity proof proves: that the quorum of members, each from its own peer,
found a transaction with that ID at that place of the channel, in the block with that
header hash, with that validation code (0: VALID). Not what the transaction says: an
ID does not commit to the event. Whoever must check the event brings the block
(``block``): it must hash to the stated header, match its data hash, and hold the
transaction at the stated index, whose leaf is then recomputed from it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ledger_gw.audit.validity_origin import is_validity_origin, validity_origin
from ledger_gw.consortium import Consortium
from ledger_gw.errors import AuditFailedError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import ProofError, leaf_hash, verify_inclusion
from ledger_gw.log.note import Note, NoteError
from ledger_gw.log.tlog_proof import HEADER, TlogProof


@dataclass(frozen=True)
class ProvenEntry:
    """What a verified tlog-proof establishes."""

    index: int
    leaf_hash: bytes
    checkpoint: ckpt.VerifiedCheckpoint
    entry_given: bool
    transaction: dict[str, Any] | None = None  # a validity leaf: what the members stated

    def to_dict(self) -> dict[str, Any]:
        cp = self.checkpoint.checkpoint
        out: dict[str, Any] = {
            "format": HEADER,
            "ok": True,
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "checked": "entry" if self.entry_given else "leaf hash only",
            "origin": cp.origin,
            "tree_size": cp.size,
            "root": base64.b64encode(cp.root_hash).decode(),
            "witnesses": list(self.checkpoint.witnesses),
        }
        if self.transaction is not None:
            out["transaction"] = self.transaction
        return out


def is_validity_proof(proof: TlogProof) -> bool:
    """Whether the proof says it is of a Fabric channel's validity log (by its checkpoint's
    origin): only to tell its verifier what to pin, never which keys to check it with."""
    try:
        return is_validity_origin(Note.parse(proof.checkpoint).text.split("\n", 1)[0])
    except NoteError:
        return False


def verify_tlog_proof(
    proof: TlogProof,
    consortium: Consortium,
    *,
    entry: bytes | None = None,
    leaf: bytes | None = None,
    quorum: int = 1,
    genesis_hash: bytes | None = None,
    block: bytes | None = None,
) -> ProvenEntry:
    """Check that the entry (or its RFC 6962 leaf hash) is at ``proof.index`` of a
    checkpoint of the consortium's origin, signed by its log and cosigned by ``quorum``
    of its witnesses; or, when the caller pins a Fabric channel (``genesis_hash``), of
    that channel's validity log, signed by at least the consortium's quorum of its
    witnesses (``block`` ties the leaf to the transaction's content). Which rule applies
    is the caller's to say: a proof naming a validity log's origin would otherwise need
    no log signature. AuditFailedError names what does not hold."""
    validity = genesis_hash is not None
    if block is not None and not validity:
        raise ValueError("a block is checked against a Fabric channel's validity log: pin it")
    if validity and entry is None and leaf is None:
        entry = proof.extra  # the members' statement: it names nobody
    if block is not None:
        entry = _leaf_from_block(block, entry)
    if entry is None and leaf is None:
        raise ValueError("give the entry or its leaf hash")
    hashed = leaf_hash(entry) if entry is not None else bytes(leaf or b"")
    if entry is not None and leaf is not None and leaf != hashed:
        raise AuditFailedError("the entry does not hash to the leaf hash given")
    witnesses = consortium.witness_verifiers()
    try:
        if genesis_hash is not None:
            opened = ckpt.open_statement(
                proof.checkpoint,
                witnesses,
                max(quorum, consortium.witness_quorum),
                origin=validity_origin(genesis_hash),
            )
        else:
            opened = ckpt.open_checkpoint(
                proof.checkpoint,
                ckpt.NoteVerifier.from_vkey(consortium.log_vkey),
                witnesses,
                quorum,
                origin=consortium.origin,
            )
        cp = opened.checkpoint
        verify_inclusion(hashed, proof.index, cp.size, list(proof.proof), cp.root_hash)
    except (ckpt.CheckpointError, ProofError) as exc:
        raise AuditFailedError(f"tlog-proof does not verify: {exc}", code=exc.code) from exc
    except ValueError as exc:  # a quorum the consortium's witnesses cannot meet
        raise AuditFailedError(f"tlog-proof cannot be checked: {exc}") from exc
    stated = _transaction(entry) if validity and entry is not None else None
    return ProvenEntry(proof.index, hashed, opened, entry is not None, stated)


def _leaf_from_block(block: bytes, stated: bytes | None) -> bytes:
    """The leaf recomputed from the transaction's block: the one the proof states, found
    in the block by its transaction ID."""
    if stated is None:
        raise AuditFailedError("a block is checked against the statement the proof carries")
    # A block is Fabric's: only its proofs need the protocol buffers (the `fabric` extra).
    from ledger_gw.audit.fabric_validity import statement_of

    try:
        tx_id = json.loads(stated)["tx_id"]
        _, recomputed = statement_of(block, str(tx_id))
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditFailedError(f"the block does not bear out the statement: {exc}") from exc
    if recomputed != stated:
        raise AuditFailedError(
            "the block does not bear out the statement: another place, header or code"
        )
    return recomputed


def _transaction(entry: bytes) -> dict[str, Any]:
    """The members' statement, read back (verified: it hashes to the proven leaf)."""
    try:
        stated = json.loads(entry)
    except ValueError as exc:
        raise AuditFailedError(f"the validity leaf is not a statement: {exc}") from exc
    if not isinstance(stated, dict):
        raise AuditFailedError("the validity leaf is not a statement")
    return {**stated, "valid": stated.get("code") == 0}
