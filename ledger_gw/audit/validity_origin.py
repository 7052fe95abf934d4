"""The name of a Fabric channel's validity log (:mod:`ledger_gw.audit.fabric_validity`),
apart from the log itself: a proof's verifier, a credential's and a watcher tell a
validity checkpoint from the embedded ledger's by this name alone, and need not load
Fabric's protocol buffers (the `fabric` extra) to do so."""

from __future__ import annotations

ORIGIN_PREFIX = "fabric-validity/"


def validity_origin(genesis_hash: bytes) -> str:
    """The validity log's checkpoint origin: one per channel, named by its genesis block."""
    return f"{ORIGIN_PREFIX}{genesis_hash.hex()}"


def is_validity_origin(origin: str) -> bool:
    """Whether a checkpoint is a Fabric channel's validity log (signed by members only)."""
    return origin.startswith(ORIGIN_PREFIX)
