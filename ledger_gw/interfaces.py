"""The interfaces every ledger backend offers (embedded log, Hyperledger Fabric): the
ledger that takes transactions, and the verifiable log that proves what it holds."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ledger_gw.errors import ConflictError, LedgerError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import ProofError, verify_consistency
from ledger_gw.transaction import SignedTransaction


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted transaction."""

    tx_id: str
    result: dict[str, Any] | None  # the contract's answer, when accepted
    error: LedgerError | None = None  # a refusal, or a fault that stopped this one
    position: int | None = None  # log index; None when rejected or an idempotent replay
    queued: bool = False  # kept by an offline gateway, to be logged when its node returns

    def unwrap(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class Ledger(Protocol):
    def submit_many(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        """Submit in order; returns once every accepted transaction is durable."""
        ...

    def submit(self, tx: SignedTransaction) -> dict[str, Any]:
        """Submit one transaction; raises a RejectedError when it is refused."""
        ...

    def evaluate(self, tx: SignedTransaction) -> Any:
        """Run a signed query against committed state; writes nothing."""
        ...

    def size(self) -> int:
        """How far the ledger has grown: log entries (embedded) or blocks (Fabric)."""
        ...

    def ready(self) -> dict[str, str]:
        """Reach everything the ledger needs; a status line for each. Raises if one fails."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Record:
    """One accepted transaction as the log holds it, in plain values.

    Audit and reports read nothing else: so a claim's events are selected, and a
    report's figures computed, the same way whichever backend holds the log.
    """

    position: int  # log index (embedded); block x POSITION_STRIDE + index (Fabric)
    tx_id: str
    timestamp: str  # the signed transaction's own time, RFC 3339 UTC
    org: str  # the submitting organisation, read from the signer's certificate
    event: dict[str, Any]  # the event as submitted ({} when the call was no submission)
    result: dict[str, Any]  # the contract's answer

    @classmethod
    def of_entry(cls, position: int, tx: SignedTransaction, entry: Entry, org: str) -> Record:
        """The record of a log entry, read from its transaction and its logged result."""
        p = tx.proposal
        submitted = p.function == "submit" and p.args and isinstance(p.args[0], dict)
        result = json.loads(entry.result)
        return cls(
            position,
            tx.tx_id,
            p.timestamp,
            org,
            dict(p.args[0]) if submitted else {},
            result if isinstance(result, dict) else {},
        )


@dataclass(frozen=True)
class Anchor:
    """A point of the log that records and evidence are read at.

    ``summary`` is what a report carries to name it: ``{"origin", "tree_size",
    "root"}`` on the embedded log, ``{"channel", "height", "head_hash"}`` on Fabric.
    ``note`` is the embedded log's signed checkpoint (None on Fabric, whose blocks
    the ordering service signs).
    """

    size: int  # entries (embedded) or blocks (Fabric) before this point
    summary: dict[str, Any]
    note: str | None = None

    @classmethod
    def of_note(cls, note: str, log_vkey: str, origin: str) -> Anchor:
        """A Merkle log's anchor at a checkpoint, once the log's key has opened it."""
        cp = ckpt.open_checkpoint(note, ckpt.NoteVerifier.from_vkey(log_vkey), origin=origin)
        return cls.of_opened(cp.checkpoint, note)

    @classmethod
    def of_opened(cls, cp: ckpt.Checkpoint, note: str) -> Anchor:
        """The anchor at ``note``, whose signatures the caller has checked already."""
        root = base64.b64encode(cp.root_hash).decode()
        return cls(cp.size, {"origin": cp.origin, "tree_size": cp.size, "root": root}, note)

    def check_within(
        self, witnessed: Anchor | None, consistency: Callable[[int, int], Sequence[bytes]]
    ) -> None:
        """That this checkpoint's tree is a prefix of ``witnessed``'s, by a consistency
        proof: the log's key alone signs any history, the witnesses only one. Raises
        ConflictError (``not_yet_witnessed``) when ``witnessed`` does not reach it yet
        (or is None: no checkpoint met the quorum), ProofError when it is of another
        history."""
        if witnessed is None or self.size > witnessed.size:
            raise ConflictError(
                f"no checkpoint the witness quorum cosigned covers size {self.size} yet",
                code="not_yet_witnessed",
            )
        root, mine = (base64.b64decode(a.summary["root"]) for a in (witnessed, self))
        if 0 < self.size < witnessed.size:
            proof = consistency(self.size, witnessed.size)
            verify_consistency(self.size, witnessed.size, proof, mine, root)
        elif self.size == witnessed.size and mine != root:
            raise ProofError("two roots for one size")


def anchor_size(summary: dict[str, Any]) -> int:
    """The size a report's anchor names, on either backend."""
    return int(summary["tree_size"] if "tree_size" in summary else summary["height"])


@dataclass(frozen=True)
class AnchorName:
    """How a person reads an anchor on either backend: which ledger, how far, which head."""

    ledger: str  # the log's origin line, or the Fabric channel
    size: int  # tree size, or block height
    head: str  # the Merkle root (base64), or the head block's hash (hex)

    @classmethod
    def of(cls, summary: dict[str, Any]) -> AnchorName:
        if "tree_size" in summary:
            return cls(str(summary["origin"]), int(summary["tree_size"]), str(summary["root"]))
        return cls(
            f"fabric channel {summary['channel']}",
            int(summary["height"]),
            str(summary["head_hash"]),
        )


Reveal = Callable[["Record"], bool]  # may this caller read the entry of this record?


def reveal_all(record: Record) -> bool:
    """For the log's own operator, reading her own database."""
    return True


def reveal_none(record: Record) -> bool:
    """For what carries hashes only (a tlog-proof file)."""
    return False


@dataclass(frozen=True)
class Pins:
    """What a verifier pins beyond the consortium file, from its own configuration: on
    Fabric, the channel's genesis block hash and the endorsement policy its profile
    names (the embedded log needs none: its keys are in the consortium file)."""

    genesis_hash: bytes | None = None
    policy: tuple[int, frozenset[str]] | None = None


class VerifiableLog(Protocol):
    """What audit bundles, reports, proofs and checkpoints need of a ledger.

    Both backends keep an append-only, signed history: the embedded log as a Merkle
    tree with signed checkpoints, Fabric as a hash chain of orderer-signed blocks.
    The few operations below are phrased so either can answer them; answers that
    are evidence (``evidence``, ``inclusion``, ``consistency``, ``checkpoint``) are
    JSON objects in the backend's own, documented shape, which the offline
    verifier (:mod:`ledger_gw.audit.verify`) dispatches on.
    """

    def size(self) -> int:
        """Entries (embedded) or blocks (Fabric) so far."""
        ...

    def anchor(self, size: int | None = None) -> Anchor:
        """The anchor at ``size`` (the latest when None); NotFoundError when none."""
        ...

    def records(self, anchor: Anchor, since: Anchor | None = None) -> Iterator[Record]:
        """Every record before ``anchor`` (only those after ``since``, an earlier anchor
        of this log, when given), in log order; raises IntegrityError once the log read
        turns out not to be the one the anchor names, or not to extend ``since``."""
        ...

    def claim_records(self, anchor: Anchor, kind: str, subject: str) -> list[Record]:
        """The records before ``anchor`` a claim about one referral's chain (``kind``
        "referral_chain") or one entitlement may select from, in log order: every record
        about it, and perhaps others (every record, where the backend has no index)."""
        ...

    def evidence(self, records: Sequence[Record], anchor: Anchor) -> dict[str, Any]:
        """A bundle's ``evidence`` object proving ``records`` at ``anchor``."""
        ...

    def inclusion(
        self, position: int | None, tx_id: str | None, size: int | None, reveal: Reveal
    ) -> Any:
        """Proof that one transaction (by position or ID) is in the log at ``size``; the
        entry itself (which names a person) only when ``reveal`` allows its record."""
        ...

    def consistency(self, size1: int, size2: int | None) -> Any:
        """Proof that the log at ``size1`` is a prefix of the log at ``size2``."""
        ...

    def checkpoint(self, size: int | None) -> Any:
        """The signed head of the log at ``size`` (the latest when None)."""
        ...

    def cosign(self, size: int | None) -> Any:
        """Ask the consortium's witnesses now to cosign the checkpoint at ``size`` (the
        latest when None); a 4xx RejectedError where witnesses do not apply."""
        ...

    def pins(self) -> Pins:
        """The trust roots this member's own configuration gives a verifier."""
        ...


@runtime_checkable
class Deferring(Protocol):
    """A ledger that may keep a transaction to log it later (a gateway's outbox)."""

    def outbox_items(
        self, org: str, after: int = 0, state: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """``org``'s items numbered after ``after``, pending and failed or of one
        ``state``, in capture order, read as they are taken."""
        ...

    def outbox_counts(self, org: str) -> dict[str, int]:
        """How many of ``org``'s items are pending and how many failed."""
        ...

    def dismiss_outbox_item(self, org: str, seq: int) -> dict[str, Any]:
        """Remove ``org``'s failed item ``seq``; what it was. NotFoundError when ``org``
        has no such item, ConflictError when it is pending (it will be logged)."""
        ...
