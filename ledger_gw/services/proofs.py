"""Proofs and checkpoints of the log, for anyone holding a token of the consortium.

Each answer is the verifiable log's own (:class:`ledger_gw.interfaces.VerifiableLog`):
Merkle proofs and signed checkpoint notes on the embedded ledger, orderer-signed
blocks and their header chain on Fabric.
"""

from __future__ import annotations

from typing import Any

from ledger_gw.errors import NotFoundError
from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway


def inclusion(gateway: Gateway, index: int | None, tx_id: str | None, size: int | None) -> Any:
    if index is None and tx_id is None:
        raise NotFoundError("give index or tx_id", code="not_found")
    return gateway.log.inclusion(index, tx_id, size)


def consistency(gateway: Gateway, size1: int, size2: int | None) -> Any:
    return gateway.log.consistency(size1, size2)


def checkpoint(gateway: Gateway, size: int | None) -> Any:
    return gateway.log.checkpoint(size)


def cosign(gateway: Gateway, caller: Caller, size: int | None) -> Any:
    """Cosign as the caller's organisation's witness (its key must be on this gateway)."""
    return gateway.log.cosign(gateway.witness(caller.org), size)
