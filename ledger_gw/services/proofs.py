"""Proofs and checkpoints of the log, for anyone holding a token of the consortium.

Each answer is the verifiable log's own (:class:`ledger_gw.interfaces.VerifiableLog`):
Merkle proofs and signed checkpoint notes on the embedded ledger, orderer-signed
blocks and their header chain on Fabric. The gateway and the CLI ask the same way.
"""

from __future__ import annotations

from typing import Any

from ledger_gw.errors import NotFoundError
from ledger_gw.interfaces import VerifiableLog


def inclusion(log: VerifiableLog, index: int | None, tx_id: str | None, size: int | None) -> Any:
    if index is None and tx_id is None:
        raise NotFoundError("give index or tx_id", code="not_found")
    return log.inclusion(index, tx_id, size)


def consistency(log: VerifiableLog, size1: int, size2: int | None) -> Any:
    return log.consistency(size1, size2)


def checkpoint(log: VerifiableLog, size: int | None) -> Any:
    return log.checkpoint(size)


def cosign(log: VerifiableLog, size: int | None) -> Any:
    """Ask the consortium's witnesses now to cosign a checkpoint (the log's node also
    pushes every new one to them on its own): the note with their cosignatures."""
    return log.cosign(size)
