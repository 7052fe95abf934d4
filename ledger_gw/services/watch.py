"""Watching a log: every new checkpoint must extend the last one this watcher trusted.

The checkpoints and consistency proofs come from the verifiable log
(:class:`ledger_gw.interfaces.VerifiableLog`) as any member may read them, or from a
gateway's tiles over HTTP, the proofs then computed by the watcher itself; the trusted
head lives in the watcher's own state file (:class:`ledger_gw.audit.watch.Monitor`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from ledger_gw.audit.tile_client import TileClient
from ledger_gw.audit.watch import Monitor, Observation
from ledger_gw.consortium import Consortium
from ledger_gw.errors import UnsupportedError
from ledger_gw.interfaces import VerifiableLog

__all__ = ["Observation", "poll", "poll_remote"]


@dataclass(frozen=True)
class _LogSource:
    """Checkpoint notes and Merkle consistency proofs, as the log's own answers give them."""

    log: VerifiableLog

    def latest_checkpoint(self) -> str:
        note = self.log.checkpoint(None).get("note")
        if not isinstance(note, str):
            raise UnsupportedError(
                "this log has no signed checkpoints to watch: on Fabric the ordering "
                "service signs each block, and `audit verify` checks them",
                code="no_checkpoints",
            )
        return note

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        proof = self.log.consistency(size1, size2)["proof"]
        return [base64.b64decode(h) for h in proof]


def poll(state: Path, consortium: Consortium, log: VerifiableLog, quorum: int = 0) -> Observation:
    """One look at the log: the latest checkpoint, proven to extend the trusted one."""
    return Monitor(state, consortium, quorum).poll(_LogSource(log))


def poll_remote(
    state: Path, consortium: Consortium, url: str, token: str | None = None, quorum: int = 0
) -> Observation:
    """One look at a gateway's log over HTTP (its tlog-tiles): the latest checkpoint, proven
    to extend the trusted one by a proof computed here from the tiles."""
    return Monitor(state, consortium, quorum).poll(TileClient(url, token))
