"""Watching a log: every new checkpoint must extend the last one this watcher trusted.

The checkpoints and consistency proofs come from the verifiable log
(:class:`ledger_gw.interfaces.VerifiableLog`) as any member may read them, or from a
gateway's tiles over HTTP, the proofs then computed by the watcher itself; the trusted
head lives in the watcher's own state file (:class:`ledger_gw.audit.watch.Monitor`).

On Fabric the log watched is the channel's validity log: its checkpoints signed by the
members' quorum, the Merkle consistency proofs computed from the blocks this gateway's
peer committed, and its origin named by the genesis block that peer holds.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from ledger_gw.audit.tile_client import TileClient
from ledger_gw.audit.validity_origin import validity_origin
from ledger_gw.audit.watch import Monitor, Observation
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ConflictError
from ledger_gw.interfaces import VerifiableLog
from ledger_gw.services.proofs import ValidityLog, checkpoint_note

__all__ = ["Observation", "poll", "poll_remote"]


@dataclass(frozen=True)
class _LogSource:
    """Checkpoint notes and Merkle consistency proofs, as the log's own answers give them."""

    log: VerifiableLog

    def latest_checkpoint(self) -> str:
        """The latest the consortium's witness quorum cosigned: a watcher trusts no other."""
        note = self.log.anchor().note
        assert note is not None  # a Merkle log's anchor is a checkpoint
        return note

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        proof = self.log.consistency(size1, size2)["proof"]
        return [base64.b64decode(h) for h in proof]


@dataclass(frozen=True)
class _ValiditySource(_LogSource):
    """A Fabric channel's validity log: sizes in leaves, not blocks."""

    validity: ValidityLog

    def latest_checkpoint(self) -> str:
        return checkpoint_note(self.log, None)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return list(self.validity.validity_consistency(size1, size2))


def poll(
    state: Path,
    consortium: Consortium,
    log: VerifiableLog,
    quorum: int | None = None,
    max_age: dt.timedelta | None = None,
) -> Observation:
    """One look at the log: the latest checkpoint, proven to extend the trusted one (and,
    with ``max_age``, cosigned by the quorum within it)."""
    if isinstance(log, ValidityLog):
        genesis = log.pins().genesis_hash
        if genesis is None:
            raise ConflictError("the channel's genesis block is unknown", code="no_genesis")
        origin = validity_origin(genesis)
        monitor = Monitor(state, consortium, quorum, validity_origin=origin, max_age=max_age)
        return monitor.poll(_ValiditySource(log, log))
    return Monitor(state, consortium, quorum, max_age=max_age).poll(_LogSource(log))


def poll_remote(
    state: Path,
    consortium: Consortium,
    url: str,
    token: str | None = None,
    quorum: int | None = None,
    max_age: dt.timedelta | None = None,
) -> Observation:
    """One look at a gateway's log over HTTP (its tlog-tiles): the latest checkpoint, proven
    to extend the trusted one by a proof computed here from the tiles."""
    return Monitor(state, consortium, quorum, max_age=max_age).poll(TileClient(url, token))
