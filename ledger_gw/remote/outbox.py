"""The outbox: events a gateway captured while its log node could not be reached.

Each item is the transaction signed at capture, kept in the gateway's own SQLite file
before the caller is answered, in capture order. Syncing hands the items to the node in
that order, and resubmits the very same signed transaction until the node answers, so a
node that appended it and died before answering replays it: nothing lost, nothing twice.

The node's clock window judges when an event is logged, not when it happened: an item
older than the window, or signed by a key the gateway has since rotated out, is signed
again at sync, the same event with its capture time as ``captured_at`` (the contract
replays it if the first signature was logged after all), and that new transaction is
kept before it is sent, so its retries are the same too.
An event the contract refuses, or fails on, stays in the outbox as failed, for its
caller to see, until the caller dismisses it; the items after it go on.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger_gw import sqlite
from ledger_gw.errors import (
    CONTRACT_FAILURE,
    InternalError,
    LedgerError,
    RejectedError,
    UnavailableError,
)
from ledger_gw.identity import Signer
from ledger_gw.interfaces import Outcome
from ledger_gw.remote.wire import error_to_dict
from ledger_gw.transaction import SignedTransaction, sign_proposal

# Well inside the node's clock window (ten minutes): an item older is signed again.
RESIGN_AFTER = dt.timedelta(minutes=5)
SYNC_BATCH = 100
# Items kept at most, pending or failed: a few days of a busy agency's events, a few
# hundred MB. Past it an event is refused (retry later), so that a node down for long, or
# a writer flooding, fills no disk the gateway's off-chain store shares.
MAX_ITEMS = 200_000

_SCHEMA = """
create table if not exists outbox (
    seq integer primary key autoincrement,
    event_id text not null, captured_at text not null, tx text not null,
    state text not null default 'pending', error text, attempts integer not null default 0);
create index if not exists outbox_state on outbox (state, seq);
"""

_SELECT = "select seq, event_id, captured_at, tx, state, error, attempts from outbox"
_ROWIDS = 1 << 63  # SQLite's integers: no item has a number beyond, nor can one be asked
_READ_AHEAD = 64  # rows read at a time by `Outbox.items`
Send = Callable[[Sequence[SignedTransaction]], list[Outcome]]


@dataclass(frozen=True)
class Item:
    seq: int
    event_id: str
    captured_at: str
    tx: SignedTransaction
    state: str  # pending or failed
    error: dict[str, Any] | None
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "type": event_type_of(self.tx),
            "captured_at": self.captured_at,
            "tx_id": self.tx.tx_id,
            "state": self.state,
            "error": self.error,
            "attempts": self.attempts,
        }


def event_type_of(tx: SignedTransaction) -> str:
    args = tx.proposal.args
    if tx.proposal.function == "submit" and args and isinstance(args[0], dict):
        return str(args[0].get("type", ""))
    return ""


def event_id_of(tx: SignedTransaction) -> str:
    args = tx.proposal.args
    if tx.proposal.function == "submit" and args and isinstance(args[0], dict):
        return str(args[0].get("event_id", ""))
    return ""


class Outbox:
    def __init__(
        self,
        path: Path,
        signer: Signer,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("pragma journal_mode=wal")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()  # the connection, for one statement or transaction
        self._syncing = threading.Lock()  # one syncer in this process, while it waits
        self._sync_lock = path.with_suffix(".lock")  # ... and across worker processes
        self.signer = signer
        self.clock = clock

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def capture(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        """Keep the signed transactions, durably and in order; each caller is answered
        that its event is queued (no position: nothing is logged yet). UnavailableError,
        nothing kept, when the outbox holds MAX_ITEMS already."""
        with self._lock, sqlite.immediate(self._db):
            (held,) = self._db.execute("select count(*) from outbox").fetchone()
            if held + len(txs) > MAX_ITEMS:
                raise UnavailableError(
                    f"the outbox holds {held} events, its most: the log node has been out of "
                    "reach too long; send again once it is back",
                    code="outbox_full",
                )
            for tx in txs:
                self._db.execute(
                    "insert into outbox (event_id, captured_at, tx) values (?, ?, ?)",
                    (event_id_of(tx), tx.proposal.timestamp, json.dumps(tx.to_dict())),
                )
        return [
            Outcome(
                tx.tx_id,
                {
                    "event_id": event_id_of(tx),
                    "status": "queued",
                    "captured_at": tx.proposal.timestamp,
                    "tx_id": tx.tx_id,
                },
                queued=True,
            )
            for tx in txs
        ]

    def pending(self) -> int:
        with self._lock:
            row = self._db.execute("select count(*) from outbox where state = 'pending'").fetchone()
        return int(row[0])

    def items(self, after: int = 0, state: str | None = None) -> Iterator[Item]:
        """Items numbered after `after` (of one state when given), in capture order: read
        as they are taken, a few rows at a time, so a page of a long outbox reads a page."""
        after = max(after, 0)
        while after < _ROWIDS:
            with self._lock:
                rows = self._db.execute(
                    f"{_SELECT} where seq > ? and state = coalesce(?, state) order by seq limit ?",
                    (after, state, _READ_AHEAD),
                ).fetchall()
            yield from (_item(row) for row in rows)
            if len(rows) < _READ_AHEAD:
                return
            after = int(rows[-1][0])

    def counts(self) -> dict[str, int]:
        """How many items are pending and how many failed."""
        with self._lock:
            rows = self._db.execute("select state, count(*) from outbox group by state").fetchall()
        return {"pending": 0, "failed": 0} | {str(state): int(n) for state, n in rows}

    def item(self, seq: int) -> Item | None:
        if not 0 <= seq < _ROWIDS:
            return None
        with self._lock:
            row = self._db.execute(f"{_SELECT} where seq = ?", (seq,)).fetchone()
        return None if row is None else _item(row)

    def dismiss(self, seq: int) -> bool:
        """Remove a failed item, its refusal dealt with; whether there was one. A pending
        item stays: it is logged when the node returns."""
        if not 0 <= seq < _ROWIDS:
            return False
        with self._lock:
            gone = self._db.execute("delete from outbox where seq = ? and state = 'failed'", (seq,))
        return gone.rowcount == 1

    def sync(self, send: Send) -> int | None:
        """Hand pending items to the node in order until none is left or it cannot be
        reached (its UnavailableError propagates); the number logged or refused, or
        None when another thread or process is syncing this outbox already."""
        with self._exclusive() as mine:
            if not mine:
                return None
            done = 0
            while batch := self._next_batch():
                txs = [self._current(item) for item in batch]
                outcomes = send(txs)
                self._settle(batch, outcomes)
                done += len(batch)
            return done

    @contextmanager
    def _exclusive(self) -> Iterator[bool]:
        """One syncer per outbox, across the gateway's threads and worker processes."""
        if not self._syncing.acquire(blocking=False):
            yield False
            return
        try:
            with self._sync_lock.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
                try:
                    yield True
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            self._syncing.release()

    def _next_batch(self) -> list[Item]:
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} where state = 'pending' order by seq limit ?",
                (SYNC_BATCH,),
            ).fetchall()
        return [_item(row) for row in rows]

    def _current(self, item: Item) -> SignedTransaction:
        """The item's transaction, signed again (and kept) once outside the clock window,
        or once this gateway signs with another key: a rotation retires the old one for
        every transaction, whenever it was signed."""
        tx = item.tx
        fresh = None
        rotated = tx.proposal.creator != self.signer.cert_pem
        if rotated or self.clock() - tx.proposal.time >= RESIGN_AFTER:
            # a capture time the client gave stands: the field app knew when it happened
            event = {"captured_at": item.captured_at, **tx.proposal.args[0]}
            fresh = sign_proposal(self.signer, "submit", (event,), clock=self.clock)
        with self._lock:
            self._db.execute(
                "update outbox set attempts = attempts + 1, tx = ? where seq = ?",
                (json.dumps((fresh or tx).to_dict()), item.seq),
            )
        return fresh or tx

    def _settle(self, batch: Sequence[Item], outcomes: Sequence[Outcome]) -> None:
        fault = None
        with self._lock, sqlite.immediate(self._db):
            for item, outcome in zip(batch, outcomes, strict=True):
                if outcome.error is None:
                    self._db.execute("delete from outbox where seq = ?", (item.seq,))
                elif _refused(outcome.error):
                    self._db.execute(
                        "update outbox set state = 'failed', error = ? where seq = ?",
                        (json.dumps(error_to_dict(outcome.error)), item.seq),
                    )
                else:  # a fault on the node's side: this and later wait for the next sync
                    fault = outcome.error
                    break
        if fault is not None:
            raise fault


def _refused(error: LedgerError) -> bool:
    """Whether the node's answer is about the item itself, so that sending it again
    would get the same: the contract refused it, or failed on it (a contract bug, which
    would otherwise hold every later item back until the node is upgraded)."""
    failed_on = isinstance(error, InternalError) and error.code == CONTRACT_FAILURE
    return isinstance(error, RejectedError) or failed_on


def _item(row: Any) -> Item:
    seq, event_id, captured_at, tx, state, error, attempts = row
    return Item(
        int(seq),
        str(event_id),
        str(captured_at),
        SignedTransaction.from_dict(json.loads(tx)),
        str(state),
        None if error is None else json.loads(error),
        int(attempts),
    )
