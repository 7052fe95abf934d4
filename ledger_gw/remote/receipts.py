"""What the log node acknowledged to this gateway, and the check that it still holds it.

Each accepted submission is recorded here (its transaction ID, signature and position)
in the gateway's own SQLite file. `Receipts.check` then takes the latest checkpoint the
witness quorum cosigned, checks it extends the last one this gateway trusted, and for
every acknowledged transaction it covers, that the entry at its position is the very
transaction signed here, under a Merkle proof to that cosigned root. The proofs are made
here from the node's hash tiles, the entries read a tile's width at a time: a few
requests for thousands of receipts. The entries a query's answer showed (any member's,
proved then against a checkpoint the log alone signed) are kept too, by position and
leaf hash, and checked the same way. A node that drops, alters or reorders an
acknowledged transaction (a hand-over's appends must rise in the order handed over),
rewrites its tree, or shows a checkpoint its log key signed with a listed witness's
cosignature that does not verify, fails the check, and stays failed: the reason is kept.
One that has not let this gateway check what it acknowledged or showed under a cosigned
checkpoint within the deadline (its cosigned head short of it, or the check stalled) is
not trusted until it does.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, NoReturn

from chaincode.canonical import canonical_json
from ledger_gw import sqlite
from ledger_gw.consortium import Consortium
from ledger_gw.errors import (
    AuthenticationError,
    EvidenceError,
    ForbiddenError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    ValidationError,
)
from ledger_gw.identity import ROTATION_SLACK
from ledger_gw.interfaces import Outcome
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger_gw.log.tiles import WIDTH
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.tree import TiledTree
from ledger_gw.transaction import SignedTransaction, certificate_ref

_log = logging.getLogger(__name__)

_SCHEMA = """
create table if not exists acknowledged (
    tx_id text primary key, position integer not null, signature text not null,
    verified integer not null default 0, acknowledged_at real not null);
create table if not exists trusted (
    id integer primary key check (id = 1), size integer not null, root blob not null);
create table if not exists broken (id integer primary key check (id = 1), reason text not null);
create table if not exists replayed (
    tx_id text primary key, original text not null, event text not null, org text not null,
    verified integer not null default 0, acknowledged_at real not null);
create table if not exists shown (
    tx_id text primary key, position integer not null, leaf blob not null,
    shown_at real not null);
"""


def _b64d(items: Sequence[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in items]


def _sig(signature: bytes) -> str:
    """What receipts recorded before they covered the proposal: its signature's hash."""
    return hashlib.sha256(signature).hexdigest()


def _event_digest(tx: SignedTransaction) -> str:
    """What makes a submission the same event: its content, when it was captured aside
    (the contract replays it so)."""
    args = tx.proposal.args
    event = args[0] if args and isinstance(args[0], dict) else {}
    what = {k: v for k, v in event.items() if k != "captured_at"}
    return hashlib.sha256(canonical_json({"org_event": what})).hexdigest()


_SIGNED = "e:"  # a receipt's digest of the proposal as logged and its signature


def _signed(logged: bytes, signature: bytes) -> str:
    """A receipt's digest: of what the entry must hold, the proposal and its signature
    (the transaction's ID covers its nonce and creator only, not what it says)."""
    return _SIGNED + hashlib.sha256(len(logged).to_bytes(8, "big") + logged + signature).hexdigest()


def _holds(kept: str, entry: Entry) -> bool:
    if kept.startswith(_SIGNED):
        return kept == _signed(entry.proposal, entry.signature)
    return kept == _sig(entry.signature)  # recorded before receipts covered the proposal


class Receipts:
    def __init__(
        self,
        path: Path,
        consortium: Consortium,
        node: NodeClient,
        deadline_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode=wal")  # one fsync a batch, not a few
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        # Its own connection: what an append or a query's answer records must not wait
        # for a check's network reads.
        self._recording = sqlite.connect(path, check_same_thread=False, isolation_level=None)
        self._recording_lock = threading.Lock()
        self.consortium = consortium
        self.node = node
        self._log_key = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
        self._witnesses = consortium.witness_verifiers()
        self._auth = consortium.authenticator()
        self.deadline_s = deadline_s
        self.clock = clock

    def close(self) -> None:
        with self._lock, self._recording_lock:
            self._db.close()
            self._recording.close()

    def record(self, txs: Sequence[SignedTransaction], outcomes: Sequence[Outcome]) -> None:
        """Keep what the node acknowledged as appended (durably, before it is answered),
        and what it answered as logged before (a replay of an event already logged). The
        node appends a hand-over in its order: positions that do not rise in it are a
        reordering."""
        self._record_replays(txs, outcomes)
        rows = [
            (o.tx_id, o.position, _signed(tx.proposal.logged, tx.signature), self.clock())
            for tx, o in zip(txs, outcomes, strict=True)
            if o.error is None and o.position is not None
        ]
        if not rows:
            return
        bad = next((r for r in rows if type(r[1]) is not int or not 0 <= r[1] < 2**63), None)
        if bad is not None:
            self.mismatch(f"the node acknowledged {bad[0]} at no position: {bad[1]!r}")
        for (first, at, _, _), (then, to, _, _) in pairwise(rows):
            if to <= at:
                self.mismatch(
                    f"the node acknowledged {then} at {to}, not after {first} (at {at}), "
                    "handed over before it"
                )
        db = self._recording
        with self._recording_lock, sqlite.immediate(db):
            before = db.total_changes
            db.executemany(
                "insert or ignore into acknowledged "
                "(tx_id, position, signature, acknowledged_at) values (?, ?, ?, ?)",
                rows,
            )
            known = db.total_changes - before < len(rows)  # a retry, acknowledged again
            moved = _moved(db, rows) if known else None
        if moved is not None:
            self.mismatch(moved)

    def _record_replays(
        self, txs: Sequence[SignedTransaction], outcomes: Sequence[Outcome]
    ) -> None:
        """A replay names the transaction that logged the event first: it must be this
        organisation's, with this event, in the node's log, and then under a cosigned
        checkpoint (`_verify_replays`); a node could otherwise answer "logged before" and
        log nothing."""
        rows = []
        for tx, o in zip(txs, outcomes, strict=True):
            if o.error is not None or o.position is not None or o.queued:
                continue
            original = o.result.get("tx_id") if isinstance(o.result, dict) else None
            if type(original) is not str or tx.proposal.function != "submit":
                self.mismatch(f"the node answered {o.tx_id} as a replay of no transaction")
            p = tx.proposal  # this gateway's own, signed here
            org = self._auth.authenticate(p.creator, tx.signature, p.payload, p.time).org_id
            rows.append((o.tx_id, original, _event_digest(tx), org, self.clock()))
        if not rows:
            return
        with self._recording_lock, sqlite.immediate(self._recording):
            self._recording.executemany(
                "insert or ignore into replayed "
                "(tx_id, original, event, org, acknowledged_at) values (?, ?, ?, ?, ?)",
                rows,
            )

    def shown(self, leaves: Sequence[tuple[str, int, bytes]]) -> None:
        """Keep the entries a query's answer proved against a checkpoint the log alone
        signed (ledger_gw.remote.answers), each its transaction, position and leaf hash:
        a cosigned checkpoint must show the same leaf there within the deadline, or the
        node showed this gateway a tree the witnesses never saw."""
        if not leaves:
            return
        with self._recording_lock, sqlite.immediate(self._recording):
            elsewhere = _keep_shown(self._recording, leaves, self.clock())
        if elsewhere is not None:
            self.mismatch(f"the node showed {elsewhere} as two different entries")

    def mismatch(self, reason: str) -> NoReturn:
        """The node answered something that cannot be: fail now, and for good."""
        with self._recording_lock:
            self._fail(reason, self._recording)

    def hold_to_head(self, cp: ckpt.Checkpoint) -> None:
        """A checkpoint the witness quorum cosigned, shown for something else than the
        receipts (a bundle's or a report's anchor): one behind the head they trust, or
        another tree of its size, is a node rolling this gateway back or showing it a
        fork, and fails as a check would."""
        with self._recording_lock:
            reason = _regressed(self._recording, cp)
        if reason is not None:
            self.mismatch(reason)

    def failure(self) -> None:
        """For a node out of reach: raises the IntegrityError a failed check left behind,
        or that of an acknowledgement overdue by the cosigned head last seen. A node that
        fails only its readiness to this gateway must not hide a lost append that way."""
        reason = self.broken()
        if reason is not None:
            raise IntegrityError(reason, code="log_node_untrusted")
        with self._lock:
            row = self._db.execute("select size from trusted").fetchone()
            self._overdue(0 if row is None else int(row[0]))

    def broken(self) -> str | None:
        row = self._db.execute("select reason from broken").fetchone()
        return None if row is None else str(row[0])

    def _fail(self, reason: str, db: sqlite3.Connection | None = None) -> NoReturn:
        (db or self._db).execute(
            "insert or ignore into broken (id, reason) values (1, ?)", (reason,)
        )
        _log.error("the log node is not to be trusted: %s", reason)
        raise IntegrityError(reason, code="log_node_untrusted")

    def check(self) -> dict[str, int]:
        """Verify what the node shows against what it acknowledged; raises IntegrityError
        (and remembers why) when it does not hold."""
        with self._lock:
            reason = self.broken()
            if reason is not None:
                raise IntegrityError(reason, code="log_node_untrusted")
            try:
                return self._check()
            except ckpt.ForgedCosignatureError as exc:  # on a note the log key signed
                self._fail(f"the node shows a forged witness cosignature: {exc}")
            except (EvidenceError, ckpt.CheckpointError) as exc:  # a forged proof or note
                self._fail(f"the node's evidence does not verify: {exc}")
            except (KeyError, TypeError, ValueError) as exc:
                # An answer the node should never give (a field missing, an entry or a
                # certificate that does not read): waiting would leave what it covers
                # unchecked for ever, which is what a node hiding a lost append wants.
                self._fail(f"the node's answer does not read: {exc!r}")
            except (ForbiddenError, ValidationError) as exc:
                # A refusal to show this gateway its own entries or proofs, asked for as
                # the node must answer them: for good too. (An expired certificate of its
                # own, or a fault of the node's, is not done now and tried again: the
                # deadline catches a node that stalls.)
                self._fail(f"the node refuses what it must show: {exc.code}: {exc}")

    def _open(self, note: str) -> ckpt.Checkpoint:
        return self.consortium.open_witnessed(note).checkpoint

    def _check(self) -> dict[str, int]:
        # Before the node's checkpoint is asked for: an append acknowledged meanwhile may
        # be past it.
        top = self._db.execute("select max(position) from acknowledged").fetchone()[0]
        try:
            latest = self.node.get("/v1/node/checkpoint")
        except NotFoundError:
            signed = 0
        else:  # the size the log signed, not the one the node states beside it
            signed = self._open_log_signed(str(latest["note"])).size
        if top is not None and signed <= top:
            self._fail(
                f"the node acknowledged an entry at position {top}, "
                f"yet its log now holds only {signed}"
            )
        replays = self._verify_replays()
        try:
            cp = self._open(str(self.node.get("/v1/node/checkpoint/trusted")["note"]))
        except ckpt.ForgedCosignatureError:
            raise  # not a quorum yet to come: a lie
        except (NotFoundError, ckpt.CheckpointError):  # not yet cosigned by the quorum
            self._overdue(0)
            return {"verified": replays, "pending": self._pending_count()}
        self._extend(cp)
        pending = self._db.execute(
            "select tx_id, position, signature from acknowledged "
            "where verified = 0 and position < ? order by position",
            (cp.size,),
        ).fetchall()
        tree = TiledTree(self.node, cp.size)
        for run in _runs(pending):
            self._verify_run(cp, tree, run)
        verified = len(pending) + replays + self._verify_shown(cp, tree)
        self._overdue(cp.size)
        return {"verified": verified, "pending": self._pending_count(), "size": cp.size}

    def _verify_replays(self) -> int:
        """Each replay's original, which the node said it logged before: revealed to this
        organisation (its own), holding the same event (its capture time aside), under a
        Merkle proof to the latest checkpoint the log signed. Not there, it was never
        logged: that fails at once. Its leaf is then kept as the entries a query's answer
        showed are, for a cosigned checkpoint to hold it too (`_verify_shown`)."""
        pending = self._db.execute(
            "select tx_id, original, event, org from replayed where verified = 0"
        ).fetchall()
        proven = []
        for tx_id, original, event, org in pending:
            try:
                answer = self.node.get("/v1/node/inclusion", tx=original)
            except NotFoundError:
                self._fail(
                    f"the node answered {tx_id} as a replay of {original}, which its log "
                    "does not hold"
                )
            if "entry" not in answer:
                self._fail(f"the node answered {tx_id} as a replay of {original}, not ours")
            data = base64.b64decode(answer["entry"], validate=True)
            pem = str(answer["certificate"])
            try:
                first = SignedTransaction.of_entry(
                    Entry.from_bytes(data), {certificate_ref(pem): pem}
                )
            except AuthenticationError:
                self._fail(f"the entry of {original} names a certificate not shown")
            if first.tx_id != original or _event_digest(first) != event:
                self._fail(f"the node answered {tx_id} as a replay of {original}, another event")
            p = first.proposal
            try:  # the node reveals what it likes: the first must be this member's, signed
                signer = self._auth.authenticate(
                    p.creator, first.signature, p.payload, p.time, grace=ROTATION_SLACK
                )
            except LedgerError as exc:
                self._fail(f"the entry of {original} is not signed by a member: {exc}")
            if signer.org_id != org:
                self._fail(f"the node answered {tx_id} as a replay of {original}, not ours")
            signed = self._open_log_signed(str(answer["checkpoint"]))
            index, leaf = int(answer["index"]), leaf_hash(data)
            verify_inclusion(leaf, index, signed.size, _b64d(answer["proof"]), signed.root_hash)
            proven.append((tx_id, original, index, leaf))
        if not proven:
            return 0
        with sqlite.immediate(self._db):
            originals = [(original, index, leaf) for _, original, index, leaf in proven]
            elsewhere = _keep_shown(self._db, originals, self.clock())
            self._db.executemany(
                "update replayed set verified = 1 where tx_id = ?", [(t,) for t, *_ in proven]
            )
        if elsewhere is not None:
            self._fail(f"the node showed {elsewhere} as two different entries")
        return len(proven)

    def _verify_shown(self, cp: ckpt.Checkpoint, tree: TiledTree) -> int:
        """Each entry a query's answer showed, now under the cosigned root: the same leaf
        at the same position, by a proof made here from the node's hash tiles."""
        pending = self._db.execute(
            "select tx_id, position, leaf from shown where position < ?",
            (cp.size,),
        ).fetchall()
        for tx_id, position, leaf in pending:
            try:
                proof = tree.inclusion_proof(int(position))
                verify_inclusion(bytes(leaf), int(position), cp.size, proof, cp.root_hash)
            except EvidenceError:
                self._fail(
                    f"the node showed {tx_id} at position {position} in a tree the "
                    "witnesses never saw"
                )
        if pending:  # checked: a transaction shown again is checked again
            with sqlite.immediate(self._db):
                self._db.executemany(
                    "delete from shown where tx_id = ?", [(r[0],) for r in pending]
                )
        return len(pending)

    def _overdue(self, covered: int) -> None:
        """An append the node acknowledged, an entry it showed (a query's answer, a
        replay's original) or a replay it answered, long ago and not yet checked: no
        cosigned checkpoint covers it (the node shows this gateway a tree the witnesses
        never saw, or the witnesses are down), or one does and the node stalls what its
        check reads (the entry, its proof, the replay's original), which is what a node
        that dropped it would do. The gateway is not ready while that lasts, and ready
        again once the check holds (or fails, for good): waiting gives a node that hides
        it nothing, and an outage of the witnesses needs no one to trust the node again
        by hand."""
        reason = self._uncovered(covered, self.clock() - self.deadline_s)
        if reason is not None:
            _log.error("the log node is not trusted for now: %s", reason)
            raise IntegrityError(reason, code="log_node_overdue")

    def _uncovered(self, covered: int, before: float) -> str | None:
        """Why the first entry kept since before ``before`` and not yet checked is
        overdue, whatever the cosigned head (of size ``covered``)."""
        shown = self._db.execute(
            "select tx_id, position from shown where shown_at < ? order by position limit 1",
            (before,),
        ).fetchone()
        if shown is not None:
            tx_id, position = shown
            return f"the node showed {tx_id} at position {position}, " + _unchecked(
                int(position), covered
            )
        row = self._db.execute(
            "select tx_id, position, acknowledged_at from acknowledged "
            "where verified = 0 and acknowledged_at < ? order by position limit 1",
            (before,),
        ).fetchone()
        if row is not None:
            tx_id, position, at = row
            return (
                f"the node acknowledged {tx_id} at position {position} "
                f"{self.clock() - float(at):.0f} s ago, " + _unchecked(int(position), covered)
            )
        replay = self._db.execute(
            "select tx_id, original, acknowledged_at from replayed "
            "where verified = 0 and acknowledged_at < ? limit 1",
            (before,),
        ).fetchone()
        if replay is None:
            return None
        tx_id, original, at = replay
        return (
            f"the node answered {tx_id} as a replay of {original} "
            f"{self.clock() - float(at):.0f} s ago, and has not shown that its log holds it"
        )

    def _open_log_signed(self, note: str) -> ckpt.Checkpoint:
        """A checkpoint the log signed, however few witnesses cosigned it; a cosignature
        it carries by a witness the consortium lists must verify all the same."""
        opened = ckpt.open_checkpoint(
            note, self._log_key, self._witnesses, origin=self.consortium.origin
        )
        return opened.checkpoint

    def _pending_count(self) -> int:
        return int(
            self._db.execute(
                "select (select count(*) from acknowledged where verified = 0)"
                " + (select count(*) from replayed where verified = 0)"
                " + (select count(*) from shown)"
            ).fetchone()[0]
        )

    def _extend(self, cp: ckpt.Checkpoint) -> None:
        """The new trusted head must extend the last one (a consistency proof)."""
        regressed = _regressed(self._db, cp)
        if regressed is not None:
            self._fail(regressed)
        row = self._db.execute("select size, root from trusted").fetchone()
        if row is not None:
            size0, root0 = int(row[0]), bytes(row[1])
            if size0 and cp.size > size0:
                proof = self.node.get("/v1/node/consistency", size1=size0, size2=cp.size)
                verify_consistency(size0, cp.size, _b64d(proof["proof"]), root0, cp.root_hash)
        self._db.execute(
            "insert or replace into trusted (id, size, root) values (1, ?, ?)",
            (cp.size, cp.root_hash),
        )

    def _verify_run(self, cp: ckpt.Checkpoint, tree: TiledTree, run: list[_Pending]) -> None:
        """Receipts within one tile: their entries in one request, each under a Merkle
        proof to the cosigned root, made here from the node's hash tiles."""
        begin, end = run[0][1], run[-1][1] + 1
        try:
            answer = self.node.get("/v1/node/entries", begin=begin, end=end)
        except NotFoundError:
            answer = {"entries": [], "certificates": []}
        entries = answer["entries"]
        # Keyed by their own hash: only the certificate an entry names can fit it.
        try:
            certificates = {certificate_ref(pem): pem for pem in answer["certificates"]}
        except AuthenticationError as exc:
            raise ValueError(f"a certificate the node shows does not read: {exc}") from None
        for tx_id, position, sig in run:
            at = position - begin
            entry_b64 = entries[at] if at < len(entries) else None
            if entry_b64 is None:
                self._fail(
                    f"the node shows no entry of this gateway at {position}, where it put {tx_id}"
                )
            data = base64.b64decode(entry_b64, validate=True)
            entry = Entry.from_bytes(data)
            try:
                tx = SignedTransaction.of_entry(entry, certificates)
            except AuthenticationError:
                self._fail(f"the entry at position {position} names a certificate not shown")
            if tx.tx_id != tx_id or not _holds(sig, entry):
                self._fail(f"the entry at position {position} is not the acknowledged {tx_id}")
            proof = tree.inclusion_proof(position)
            verify_inclusion(leaf_hash(data), position, cp.size, proof, cp.root_hash)
        with sqlite.immediate(self._db):
            self._db.executemany(
                "update acknowledged set verified = 1 where tx_id = ?", [(r[0],) for r in run]
            )


def _moved(db: sqlite3.Connection, rows: Sequence[tuple[str, int, str, float]]) -> str | None:
    for tx_id, position, _, _ in rows:
        (kept,) = db.execute(
            "select position from acknowledged where tx_id = ?", (tx_id,)
        ).fetchone()
        if kept != position:
            return f"the node acknowledged {tx_id} at {position}, and before at {kept}"
    return None


def _regressed(db: sqlite3.Connection, cp: ckpt.Checkpoint) -> str | None:
    """Why ``cp`` cannot follow the trusted head kept in ``db``, if it cannot: it is
    smaller, or of its size with another root."""
    row = db.execute("select size, root from trusted").fetchone()
    if row is None:
        return None
    size0, root0 = int(row[0]), bytes(row[1])
    if cp.size < size0:
        return f"the node's cosigned log shrank from {size0} to {cp.size} entries"
    if cp.size == size0 and cp.root_hash != root0:
        return f"the node shows another tree of size {size0}"
    return None


def _unchecked(position: int, covered: int) -> str:
    """Why an entry at ``position``, not yet checked, is so under a cosigned head of size
    ``covered``."""
    if position >= covered:
        return f"and no checkpoint the witness quorum cosigned covers it (cosigned size {covered})"
    return (
        f"and has not let it be checked under the cosigned checkpoint of size {covered} "
        "that covers it"
    )


def _keep_shown(
    db: sqlite3.Connection, leaves: Sequence[tuple[str, int, bytes]], now: float
) -> str | None:
    """Keep each entry shown (transaction, position, leaf hash) in ``db``'s open
    transaction; the first kept before at another place or with another leaf, if any.
    One kept since, and checked and let go: the cosigned tree holds it at one place."""
    db.executemany(
        "insert or ignore into shown (tx_id, position, leaf, shown_at) values (?, ?, ?, ?)",
        [(tx_id, position, leaf, now) for tx_id, position, leaf in leaves],
    )
    for tx_id, position, leaf in leaves:
        kept = db.execute("select position, leaf from shown where tx_id = ?", (tx_id,)).fetchone()
        if kept is not None and (int(kept[0]), bytes(kept[1])) != (position, leaf):
            return tx_id
    return None


_Pending = tuple[str, int, str]  # tx_id, position, signature hash


def _runs(pending: Sequence[Any]) -> list[list[_Pending]]:
    """Pending receipts, in order, grouped by the level-0 tile holding their position."""
    runs: list[list[_Pending]] = []
    for tx_id, position, sig in pending:
        row = (str(tx_id), int(position), str(sig))
        if runs and runs[-1][0][1] // WIDTH == row[1] // WIDTH:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs
