"""The embedded ledger: signed transactions → contract → one durable, verifiable log.

Group commit: callers check signatures in their own threads, then queue their
transactions for one writer thread, which drains the queue into one append while
the next callers queue up. Across processes, each writer reads the log's head for
each append, and an append never lands on a stale one (SQLite's write lock; on
PostgreSQL the log's unique positions, see embedded.database), so all of them extend
one linear log. A transaction is acknowledged only after its append has committed.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Engine, select

from chaincode.contract import QUERY_FUNCTIONS, WRITE_FUNCTIONS, invoke
from chaincode.errors import ContractError
from chaincode.stub import Identity
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.consortium_file import ConsortiumFile
from ledger_gw.embedded.database import (
    READ_ONLY,
    appending_connection,
    lock_for_append,
    make_engine,
)
from ledger_gw.embedded.driver import Driver, Rows, StaleHead, storage_failure
from ledger_gw.embedded.reader import LogReader, node_hashes
from ledger_gw.embedded.schema import certificates, log
from ledger_gw.embedded.simulation import execute, first_reads
from ledger_gw.embedded.stub import StateView, TxStub
from ledger_gw.embedded.walcopy import WalCopier
from ledger_gw.embedded.witnessing import Cosigner, Endpoint, Witnessing
from ledger_gw.errors import (
    AuthenticationError,
    ConflictError,
    LedgerError,
    RejectedError,
    UnavailableError,
    ValidationError,
)
from ledger_gw.grouping import Grouped
from ledger_gw.identity import ROTATION_SLACK, Authenticator
from ledger_gw.interfaces import Outcome
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import CompactRange
from ledger_gw.sqlite import file_gone
from ledger_gw.transaction import Proposal, SignedTransaction, certificate_ref, parse_time

MAX_SKEW = dt.timedelta(minutes=10)
#: How far before an entry logged earlier a rotated-out key's transaction may be dated:
#: each is within MAX_SKEW of a clock that does not go back. Verify holds the log to it,
#: so that a retired key cannot date an entry back into its period after later ones.
ORDER_SLACK = 2 * MAX_SKEW
# ROTATION_SLACK (ledger_gw.identity), MAX_SKEW itself: how long after its rotation a
# rotated-out key's transaction may be dated, for a gateway's clock that runs that much
# ahead, and only until the member's next key first signs. Verify holds the log to it.
MAX_BATCH = 1000  # transactions per database transaction
ADMIT_CHUNK = 200  # signatures checked before the writer gets the first of a large call


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Verdict:
    """What the ledger decided about one transaction, the contract's answer still encoded."""

    tx: SignedTransaction
    identity: Identity | None = None
    result: bytes | None = None  # the contract's canonical JSON answer, when accepted
    error: LedgerError | None = None
    position: int | None = None  # None when rejected or an idempotent replay

    @property
    def decided(self) -> bool:
        return self.result is not None or self.error is not None

    def void(self) -> None:
        self.result = self.error = self.position = None

    def outcome(self) -> Outcome:
        """Decoded in the caller's thread: the writer's time is the ledger's throughput."""
        result = None if self.result is None else orjson.loads(self.result)
        return Outcome(self.tx.tx_id, result, self.error, self.position)


def _backdated(latest: dt.datetime | None, stated: dt.datetime) -> bool:
    """Dated over ORDER_SLACK before an entry logged earlier: no ledger whose clock did
    not go back took it then."""
    return latest is not None and stated < latest - ORDER_SLACK


def _key_refusal(
    auth: Authenticator, proposal: Proposal, now: dt.datetime, latest: dt.datetime | None
) -> AuthenticationError | None:
    """Why the signer's key may not sign this entry by the keys in force as it is
    appended: the file may have changed since the transaction was admitted."""
    try:
        auth.identify(proposal.creator, proposal.time, grace=ROTATION_SLACK)
        auth.not_retired(proposal.creator, now)
    except AuthenticationError as exc:
        return exc
    if _backdated(latest, proposal.time) and auth.rotated_out(proposal.creator):
        # After the clock stepped back past the slack, a key rotated out since signs
        # nothing until it catches up.
        return AuthenticationError(
            f"a rotated-out key's transaction, dated over {ORDER_SLACK} before the "
            "log's latest entry",
            code="retired_certificate",
        )
    return None


def _succeeded(conn: Connection, auth: Authenticator, proposal: Proposal, batch: set[str]) -> bool:
    """Whether a rotated-out key's transaction dated after its rotation comes too late:
    a key its member listed since has signed an entry (the certificates table holds each
    certificate an entry names), earlier in the log or in ``batch``."""
    later = auth.successors(proposal.creator, proposal.time)
    if not later:
        return False
    if later & batch:
        return True
    found = select(certificates.c.ref).where(certificates.c.ref.in_(sorted(later)))
    return conn.execute(found.limit(1)).first() is not None


def _same(kept: bytes | Proposal, proposal: Proposal) -> bool:
    """Whether a retry carries the proposal logged (bytes, as its entry holds it) or
    appended earlier in its batch under its transaction ID."""
    if isinstance(kept, Proposal):
        return kept.payload == proposal.payload
    return kept == proposal.logged


def _gone(conn: Connection) -> bool:
    """Whether the server ended this connection (it restarted, or dropped this client)."""
    return conn.invalidated or bool(getattr(conn.connection.dbapi_connection, "closed", False))


class Appender(Protocol):
    """Another process that appends on this ledger's behalf (embedded.appender), trusting
    this process's admission of each transaction (signature, membership, role, clock)."""

    def append(self, admitted: Sequence[Verdict]) -> list[Outcome]: ...

    def close(self) -> None: ...


class EmbeddedLedger:
    """A Ledger backend on one SQL database.

    With an `appender`, this process admits transactions and reads; the appending
    process runs the contract on them and appends them.

    `witnesses`: where this process, once it appends, pushes every new checkpoint
    (embedded.witnessing), off the commit path.

    `consortium_file`: the file `consortium` was read from, whose members' signing keys
    are taken again when it changes (embedded.consortium_file): a key rotated out while
    the ledger runs signs nothing more, and the new key signs, without a restart.
    """

    def __init__(
        self,
        engine: Engine | str,
        consortium: Consortium,
        log_signer: ckpt.NoteSigner,
        *,
        clock: Callable[[], dt.datetime] = _now,
        max_skew: dt.timedelta = MAX_SKEW,
        appender: Appender | None = None,
        witnesses: Sequence[Endpoint] = (),
        consortium_file: Path | None = None,
    ) -> None:
        self.engine = make_engine(engine) if isinstance(engine, str) else engine
        self._trust = ConsortiumFile(consortium, consortium_file)
        self._log_signer = log_signer
        self._clock = clock
        self._max_skew = max_skew
        self._queue: list[tuple[list[Verdict], threading.Event]] = []
        self._wakeup = threading.Condition()
        self._writer: threading.Thread | None = None
        self._writing: Connection | None = None  # the writer thread's
        self._walcopy: WalCopier | None = None
        self._closing = False
        self._range: CompactRange | None = None
        self._latest: tuple[int, dt.datetime] | None = None  # (size, its last entry's time)
        # The largest log this process appended to or read the head of: a log never
        # shrinks, so a smaller one is its database put back to an older copy.
        self._high = 0
        # Signers' certificates this process has committed: an entry names its signer's
        # by reference, and the table need not be sent the same one with every append.
        self._stored_certificates: set[str] = set()
        self._appender = appender
        # Concurrent callers' transactions go to the appender together: one round trip,
        # as a batch would.
        self._handover = None if appender is None else Grouped(appender.append)
        self._witnesses = tuple(witnesses)
        self._witnessing: Witnessing | None = None
        self.log = LogReader(self.engine)
        self._read_only = self.engine.execution_options(**{READ_ONLY: True})

    @property
    def consortium(self) -> Consortium:
        """The consortium in force: its signing keys the file's latest taken."""
        return self._trust.consortium

    def authenticator(self, *, now: bool = False) -> Authenticator:
        """The members' signing keys in force, as the ledger admits transactions;
        ``now``: looking at the consortium file first, for a check nothing re-checks."""
        return self._trust.authenticator(now=now)

    # -- writing -----------------------------------------------------------------------

    def submit(self, tx: SignedTransaction) -> dict[str, Any]:
        return self.submit_many([tx])[0].unwrap()

    def submit_many(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        if self._handover is None:
            return [v.outcome() for v in self.decide(txs)]
        verdicts = [self._admit(tx) for tx in txs]
        admitted = [v for v in verdicts if not v.decided]
        answers = iter(self._handover(admitted) if admitted else ())
        return [v.outcome() if v.decided else next(answers) for v in verdicts]

    def decide(self, txs: Sequence[SignedTransaction]) -> list[Verdict]:
        """Append in this process; the verdicts keep the contract's answers encoded."""
        # Signatures are checked here, in the caller's thread, chunk by chunk, while the
        # writer commits the chunks already queued: OpenSSL releases the GIL, so the
        # two overlap on a second core.
        pending: list[Verdict] = []
        waits: list[threading.Event] = []
        for start in range(0, len(txs), ADMIT_CHUNK):
            chunk = [self._admit(tx) for tx in txs[start : start + ADMIT_CHUNK]]
            pending.extend(chunk)
            queued = [p for p in chunk if not p.decided]
            if queued:
                waits.append(self._enqueue(queued))
        for done in waits:
            done.wait()
        assert all(p.decided for p in pending)
        return pending

    def append_admitted(self, admitted: Sequence[Verdict]) -> None:
        """Append transactions that another process of this gateway admitted."""
        if admitted:
            self._enqueue(list(admitted)).wait()
        assert all(p.decided for p in admitted)

    def _enqueue(self, queued: list[Verdict]) -> threading.Event:
        done = threading.Event()
        with self._wakeup:
            if self._closing:
                raise UnavailableError("the ledger is closed")
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="ledger-writer", daemon=True
                )
                self._writer.start()
                if self.engine.dialect.name == "sqlite":
                    self._walcopy = WalCopier(self.engine)
                self._start_witnessing()
            self._queue.append((queued, done))
            self._wakeup.notify()
        return done

    def _start_witnessing(self) -> Witnessing | None:
        if self._witnesses and self._witnessing is None:
            self._witnessing = Witnessing(self.engine, self.consortium, self._witnesses)
        return self._witnessing

    def resume_witnessing(self) -> None:
        """For the process that appends, from its start: offer the stored latest
        checkpoint to the witnesses now, not at the next append. One acknowledged before
        a restart and not yet cosigned would otherwise wait for a write that may not come
        for hours, while members' gateways count the time it goes uncosigned
        (remote.receipts)."""
        with self._wakeup:
            if self._closing or self._appender is not None:
                return
            witnessing = self._start_witnessing()
        if witnessing is not None:
            witnessing.committed()

    def _write_loop(self) -> None:
        while True:
            with self._wakeup:
                while not self._queue and not self._closing:
                    self._wakeup.wait()
                if not self._queue:
                    return
                calls, self._queue = self._queue, []
            batch = [p for queued, _ in calls for p in queued]
            try:
                for start in range(0, len(batch), MAX_BATCH):
                    self._commit(batch[start : start + MAX_BATCH])
                    if self._walcopy is not None:
                        self._walcopy.committed()
                    if self._witnessing is not None:
                        self._witnessing.committed()
            except Exception as exc:  # nothing of what is left was committed
                error = (
                    exc
                    if isinstance(exc, UnavailableError)
                    else UnavailableError(f"ledger write failed: {storage_failure(exc)}")
                )
                for p in batch:
                    if not p.decided:
                        p.error = UnavailableError(str(error), code=error.code)
            finally:
                for _, done in calls:
                    done.set()

    def _admit(self, tx: SignedTransaction) -> Verdict:
        """Checks that need no ledger state: signature, membership, role, clock, function."""
        pending = Verdict(tx)
        try:
            pending.identity = self._authenticate(tx, WRITE_FUNCTIONS)
        except LedgerError as error:
            rejected = (
                error
                if isinstance(error, RejectedError)
                else AuthenticationError(str(error), code=error.code)
            )
            pending.error = rejected
        return pending

    def _authenticate(self, tx: SignedTransaction, functions: frozenset[str]) -> Identity:
        proposal = tx.proposal
        if proposal.function not in functions:
            raise ValidationError(
                f"{proposal.function!r} is not allowed here", code="unknown_function"
            )
        # The contract judges consent expiry by this time: it must be the present.
        now = self._clock()
        skew = abs(proposal.time - now)
        if skew > self._max_skew:
            raise ValidationError(
                f"transaction time is {skew} away from the ledger's", code="clock_skew"
            )
        auth = self._trust.authenticator()
        identity = auth.authenticate(
            proposal.creator, tx.signature, proposal.payload, proposal.time, grace=ROTATION_SLACK
        )
        # A key rotated out (lost, say) would otherwise still sign, dated within the skew
        # before its rotation.
        auth.not_retired(proposal.creator, now)
        return identity

    def _commit(self, batch: list[Verdict]) -> None:
        """Append `batch` on the writer's own connection, kept from one commit to the
        next: checking a connection out of the pool would cost a round trip each time
        (its ping). A connection found broken (the server restarted) is replaced and the
        batch appended once more, which is safe: the ledger knows the transaction IDs it
        committed. An append on a head that another process's append made stale
        (PostgreSQL, see embedded.database) wrote nothing, and is made once more holding
        the lock that appends wait for."""
        try:
            self._commit_on_writer(batch)
        except StaleHead:
            with self.engine.connect() as conn:
                self._commit_on(conn, batch, locked=True)

    def _commit_on_writer(self, batch: list[Verdict]) -> None:
        for attempt in range(2):
            if self._writing is None:
                self._writing = appending_connection(self.engine)
            try:
                self._commit_on(self._writing, batch)
                return
            except BaseException as exc:
                broken = _gone(self._writing)
                if broken:
                    self._writing.close()
                    self._writing = None
                if attempt or not broken or not isinstance(exc, Exception):
                    raise

    def _commit_on(self, conn: Connection, batch: list[Verdict], *, locked: bool = False) -> None:
        """`_append` in one transaction on `conn`, holding the append lock when `locked`.
        When it does not commit, the outcomes set before are void, and the tree head in
        memory may be ahead of the database."""
        try:
            with conn.begin():
                if locked:
                    lock_for_append(conn)
                written = self._append(conn, batch)
                # Committed into a file no longer at the ledger's path (deleted, or
                # replaced by a restore), an append would be acknowledged and then lost.
                self._check_file()
        except BaseException:
            self._range = self._latest = None
            for p in batch:
                p.void()
            raise
        self._stored_certificates.update(written)
        if self._range is not None:  # the tree this commit made, or an earlier one's
            self._high = max(self._high, self._range.size)

    def _latest_time(self, conn: Connection, size: int) -> dt.datetime | None:
        """The time the log's last entry states (None: no entry), kept from the last
        append of this process when it made the head."""
        if self._latest is not None and self._latest[0] == size:
            return self._latest[1]
        if size == 0:
            return None
        stated = conn.execute(select(log.c.timestamp).where(log.c.seq == size - 1)).scalar_one()
        return parse_time(str(stated))

    def _load_range(self, conn: Connection, size: int) -> CompactRange:
        if self._range is not None and self._range.size == size:
            return self._range
        return CompactRange(size, node_hashes(conn, CompactRange.border_ids(size)))

    def _append(self, conn: Connection, batch: list[Verdict]) -> Iterable[str]:
        """The references of the certificates it writes, once committed."""
        view = StateView(conn)
        # On a database server, what the batch's transactions read first comes with the
        # log's head, in its round trip, rather than a round trip each.
        runs = [(p.identity, p.tx) for p in batch if p.identity is not None]
        first = first_reads(runs) if view.remote else []
        head = view.head([p.tx.tx_id for p in batch], first)
        self._not_rolled_back(head.size)
        self._high = head.size
        tree = self._load_range(conn, head.size)
        start = tree.size
        latest = self._latest_time(conn, head.size)
        auth, now = self._trust.authenticator(now=True), self._clock()
        signers: set[str] = set()  # references of the certificates this batch appended
        seen: dict[str, tuple[int, Any, bytes | Proposal]] = {}
        for tx_id, seq, entry in head.committed:
            earlier = Entry.from_bytes(entry)
            seen[tx_id] = (seq, earlier.result, earlier.proposal)
        rows = Rows()
        for p in batch:
            tx_id = p.tx.tx_id
            if tx_id in seen:  # a retried transport: the same signed transaction again
                p.position, p.result, kept = seen[tx_id]
                if not _same(kept, p.tx.proposal):
                    p.position, p.result = None, None
                    p.error = ConflictError(
                        "another proposal was logged under this transaction ID: "
                        "a nonce is never used twice",
                        code="transaction_id_reused",
                    )
                continue
            assert p.identity is not None
            stated = p.tx.proposal.time
            refused = _key_refusal(auth, p.tx.proposal, now, latest)
            if refused is None and _succeeded(conn, auth, p.tx.proposal, signers):
                refused = AuthenticationError(
                    "a rotated-out key's transaction, dated after its rotation, once the "
                    "member's next key has signed",
                    code="retired_certificate",
                )
            if refused is not None:  # what verify refuses is never written
                p.error = refused
                continue
            run = execute(TxStub(view, p.identity, tx_id, stated), p.tx)
            if run.error is not None:
                p.error = run.error
                continue
            p.result = run.result
            logged = run.logged(p.tx)
            if logged is None:  # an idempotent replay: the original result, nothing new
                continue
            assert run.result is not None
            position = tree.size
            new_nodes = tree.append(logged.leaf)
            proposal = p.tx.proposal
            quotable = (run.result, *proposal.contract_args())
            rows.add(
                position,
                tx_id,
                proposal.timestamp,
                logged.entry,
                logged.writes,
                new_nodes,
                quotable,
            )
            ref = certificate_ref(proposal.creator)
            signers.add(ref)
            if ref not in self._stored_certificates:
                rows.certificates[ref] = proposal.creator
            view.apply(run.writes)
            p.position = position
            seen[tx_id] = (position, run.result, proposal)
            latest = stated if latest is None else max(latest, stated)
        if not rows.log:
            return ()
        # Every acknowledged transaction is covered by a signed checkpoint at once.
        cp = ckpt.Checkpoint(self.consortium.origin, tree.size, tree.root())
        note = ckpt.sign_checkpoint(cp, self._log_signer)
        assert tree.size == start + len(rows.log)
        self._range = tree
        assert latest is not None
        self._latest = (tree.size, latest)
        Driver(conn).append(rows, (tree.size, note))
        return rows.certificates.keys()

    # -- reading -----------------------------------------------------------------------

    def evaluate(self, tx: SignedTransaction) -> Any:
        identity = self._authenticate(tx, QUERY_FUNCTIONS)
        proposal = tx.proposal
        with self.reader() as conn:
            stub = TxStub(StateView(conn), identity, tx.tx_id, proposal.time)
            try:
                result = invoke(stub, proposal.function, proposal.contract_args())
            except ContractError as error:
                raise RejectedError.from_contract(error) from None
        if stub.writes:
            raise ValidationError("a query tried to write", code="query_writes")
        return orjson.loads(result)

    def reader(self) -> Any:
        """A read-only connection in one consistent snapshot."""
        return self._read_only.begin()

    def cosign(self, size: int | None = None) -> str:
        """Ask the consortium's witnesses now to cosign a checkpoint (the latest when
        None); the note with the cosignatures they gave (see embedded.witnessing)."""
        return Cosigner(self.engine, self.consortium).ask(self._witnesses, size)

    def settle_witnesses(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until this process has offered the latest
        checkpoint to every witness; whether all of them cosigned it (True when it names
        none, or another process appends)."""
        self.resume_witnessing()
        return self._witnessing is None or self._witnessing.settle(timeout)

    def size(self) -> int:
        return self.log.size()

    def _check_file(self) -> None:
        """Raises UnavailableError when the SQLite file this ledger opened is no longer the
        one at its path: its open connections would go on reading and writing the old one."""
        gone = file_gone(self.engine)
        if gone is not None:
            raise UnavailableError(f"the ledger's database: {gone}", code="ledger_unavailable")

    def _not_rolled_back(self, size: int) -> None:
        """Raises UnavailableError when the log holds fewer entries than this process saw
        it hold: its database was put back to an older copy (a backup restored in place,
        which the file's identity does not tell). Appending would sign a second history
        over positions already acknowledged, and checkpoints already handed out."""
        if size < self._high:
            raise UnavailableError(
                f"the ledger holds {size} entries, fewer than the {self._high} it held: "
                "its database was rolled back to an older copy, and appending would sign "
                "a fork of what it signed. Put back the latest copy",
                code="log_rolled_back",
            )

    def ready(self) -> dict[str, str]:
        self._check_file()
        size = self.size()
        self._not_rolled_back(size)
        checks = {"ledger": f"size {size}"}
        if self._appender is not None:
            self._appender.append([])  # a round trip to the appending process
            checks["appender"] = "ok"
        return checks

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        if self._writer is not None:
            self._writer.join()
        if self._writing is not None:
            self._writing.close()
        if self._witnessing is not None:
            self._witnessing.close()
        if self._walcopy is not None:
            self._walcopy.close()
        self.engine.dispose()
