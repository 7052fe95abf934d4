"""Merkle proofs and checkpoints of the log, for anyone holding a token of the consortium."""

from __future__ import annotations

import base64
from typing import Any

from ledger_gw.errors import NotFoundError
from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in items]


def _size_of(note: str) -> int:
    return int(note.split("\n", 2)[1])


def inclusion(gateway: Gateway, index: int | None, tx_id: str | None, size: int | None) -> Any:
    log = gateway.embedded.log
    position = log.position_of(tx_id) if tx_id is not None else index
    if position is None:
        raise NotFoundError("give index or tx_id", code="not_found")
    size = size or log.size()
    proof = _b64(log.inclusion_proof(position, size))
    return {
        "index": position,
        "size": size,
        "leaf_hash": _b64([log.leaf_hash(position)])[0],
        "entry": base64.b64encode(log.entry(position)).decode(),
        "proof": proof,
        "checkpoint": log.checkpoint(size),
    }


def consistency(gateway: Gateway, size1: int, size2: int | None) -> Any:
    log = gateway.embedded.log
    size2 = size2 or log.size()
    return {
        "size1": size1,
        "size2": size2,
        "proof": _b64(log.consistency_proof(size1, size2)),
        "checkpoint1": log.checkpoint(size1),
        "checkpoint2": log.checkpoint(size2),
    }


def checkpoint(gateway: Gateway, size: int | None) -> Any:
    note = gateway.embedded.log.checkpoint(size)
    return {"size": _size_of(note), "note": note}


def cosign(gateway: Gateway, caller: Caller, size: int | None) -> Any:
    """Cosign as the caller's organisation's witness (its key must be on this gateway)."""
    note = gateway.embedded.cosign(gateway.witness(caller.org), size)
    return {"size": _size_of(note), "note": note}
