"""Checking a C2SP tlog-proof offline, against trust its verifier pins: the consortium's
log key and witness keys, and how many witnesses must have cosigned."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ledger_gw.consortium import Consortium
from ledger_gw.errors import AuditFailedError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import ProofError, leaf_hash, verify_inclusion
from ledger_gw.log.tlog_proof import HEADER, TlogProof


@dataclass(frozen=True)
class ProvenEntry:
    """What a verified tlog-proof establishes."""

    index: int
    leaf_hash: bytes
    checkpoint: ckpt.VerifiedCheckpoint
    entry_given: bool

    def to_dict(self) -> dict[str, Any]:
        cp = self.checkpoint.checkpoint
        return {
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


def verify_tlog_proof(
    proof: TlogProof,
    consortium: Consortium,
    *,
    entry: bytes | None = None,
    leaf: bytes | None = None,
    quorum: int = 1,
) -> ProvenEntry:
    """Check that the entry (or its RFC 6962 leaf hash) is at ``proof.index`` of a
    checkpoint signed by the consortium's log and cosigned by ``quorum`` of its
    witnesses. AuditFailedError names what does not hold."""
    if entry is None and leaf is None:
        raise ValueError("give the entry or its leaf hash")
    hashed = leaf_hash(entry) if entry is not None else bytes(leaf or b"")
    if entry is not None and leaf is not None and leaf != hashed:
        raise AuditFailedError("the entry does not hash to the leaf hash given")
    witnesses = consortium.witness_verifiers()
    try:
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
    return ProvenEntry(proof.index, hashed, opened, entry is not None)
