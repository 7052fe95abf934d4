"""The checks that need no contract state, on every core.

An entry's inflating, form, certificate and signature, and leaf hash depend on the
entry alone, as a checkpoint's signatures depend on its note alone; these signatures
are most of the cost of verifying a log (a log written one entry at a time holds a
checkpoint per entry). The contract's replay depends on every entry before it and
stays in one process, in log order. So chunks of entries, with the checkpoints of the
same sizes, go to worker processes, a bounded number ahead of the replay, and come
back in order as :class:`Checks` that the replay consults where it used to check, with
what it needs of each entry, read where the entry is parsed: a verdict is the same
whichever process found it. Once the replay is done, the stored world state is
compared with the replayed one the same way, a range of keys at a time
(:mod:`ledger_gw.embedded.state_check`), while the verifying process reads the next.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, TypeVar

from chaincode.stub import Identity
from ledger_gw.consortium import Consortium
from ledger_gw.embedded.packing import unpack
from ledger_gw.embedded.state_check import Compared, Range, compare
from ledger_gw.errors import IntegrityError, LedgerError
from ledger_gw.identity import Authenticator
from ledger_gw.log.checkpoint import CheckpointError, NoteVerifier, open_checkpoint
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import leaf_hash
from ledger_gw.transaction import Certificates, SignedTransaction, certificate_ref

T = TypeVar("T")
R = TypeVar("R")


class Opened(NamedTuple):
    """What a checkpoint whose signatures verify says, and how many witnesses cosigned."""

    origin: str
    size: int
    root: bytes
    cosignatures: int


class Logged(NamedTuple):
    """What the replay needs of a well-formed entry, read once, where it is parsed."""

    creator: str  # its certificate's reference
    identity: Identity | None  # whom the certificate names, if its signature verifies
    rotated_out: bool  # its certificate is no longer its member's signing key
    # Dated after its key's rotation (within the slack): the keys listed since, none of
    # which may have signed an entry before it. Empty when its key's period covers it.
    late_for: frozenset[str]
    tx_id: str
    timestamp: str
    time: dt.datetime
    function: str
    args: list[bytes]  # as the contract takes them
    result: bytes  # the logged result, canonical JSON
    effects: str  # the logged effects digest


class Checks(NamedTuple):
    """One chunk's verdicts, by offset in the chunk: only the faults are listed."""

    entries: list[bytes]  # as written; a stored form that does not inflate, as stored
    leaves: list[bytes]
    logged: dict[int, Logged]  # each entry that is well-formed
    malformed: dict[int, str]  # not an entry, or not a well-formed transaction
    unsigned: dict[int, str]  # its certificate or signature fails
    checkpoints: list[Opened | str]  # each note given, opened or why it is not


@dataclass(frozen=True)
class TrustRoots:
    """The consortium's keys, as a worker holds them: certificates parsed once each."""

    auth: Authenticator
    log: NoteVerifier
    witnesses: list[NoteVerifier]
    certificates: Certificates  # the log's own, by reference: entries name them
    rotation_slack: dt.timedelta  # how long after its rotation a key's entry may be dated

    @classmethod
    def of(
        cls, consortium: Consortium, certificates: Certificates, rotation_slack: dt.timedelta
    ) -> TrustRoots:
        return cls(
            consortium.authenticator(),
            NoteVerifier.from_vkey(consortium.log_vkey),
            consortium.witness_verifiers(),
            certificates,
            rotation_slack,
        )


def check(roots: TrustRoots, stored: Sequence[bytes], notes: Sequence[str]) -> Checks:
    """Each entry inflated from its stored form, parsed in full (canonical form,
    proposal, timestamp) and, if it parses, its certificate and signature checked and
    what the replay needs of it kept; each note's signatures checked."""
    checks = Checks([], [], {}, {}, {}, [])
    auth = roots.auth
    for offset, packed in enumerate(stored):
        try:
            data = unpack(packed)
        except IntegrityError as exc:
            checks.entries.append(packed)
            checks.leaves.append(b"")
            checks.malformed[offset] = str(exc)
            continue
        checks.entries.append(data)
        checks.leaves.append(leaf_hash(data))
        try:
            entry = Entry.from_bytes(data)
            proposal = SignedTransaction.of_entry(entry, roots.certificates).proposal
            at = proposal.time
        except (ValueError, LedgerError) as exc:
            checks.malformed[offset] = str(exc)
            continue
        identity: Identity | None = None
        try:
            identity = auth.authenticate(
                proposal.creator, entry.signature, proposal.payload, at, grace=roots.rotation_slack
            )
        except LedgerError as exc:
            checks.unsigned[offset] = str(exc)
        signed = identity is not None
        checks.logged[offset] = Logged(
            certificate_ref(proposal.creator),
            identity,
            signed and auth.rotated_out(proposal.creator),
            auth.successors(proposal.creator, at) if signed else frozenset(),
            proposal.tx_id,
            proposal.timestamp,
            at,
            proposal.function,
            proposal.contract_args(),
            entry.result,
            entry.effects,
        )
    for note in notes:
        try:
            opened = open_checkpoint(note, roots.log, roots.witnesses)
        except CheckpointError as exc:
            checks.checkpoints.append(str(exc))
            continue
        cp = opened.checkpoint
        checks.checkpoints.append(
            Opened(cp.origin, cp.size, cp.root_hash, len(opened.cosignatures))
        )
    return checks


class Checker:
    """``check`` over a stream of chunks, then ``state_check.compare`` over a stream of
    key ranges, in this process (one worker) or on a pool of ``workers`` processes."""

    def __init__(
        self,
        consortium: Consortium,
        certificates: Certificates,
        workers: int,
        rotation_slack: dt.timedelta,
    ) -> None:
        self._roots = TrustRoots.of(consortium, certificates, rotation_slack)
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            # Forked from a server process of one thread, never from the caller: another
            # thread of the caller may be inside SQLite or OpenSSL at that moment, and a
            # worker forked from it would wait for ever on a lock held by no one. The
            # server imports this module; a worker, as a spawned one would, also imports
            # the caller's main module unless it is a package's __main__ (a script that
            # verifies keeps its work under `if __name__ == "__main__"`, and its imports
            # light: `ledger-gw` imports a command only when it runs). A worker reads
            # the trust roots from the consortium file's own form.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._pool = ProcessPoolExecutor(
                workers,
                context,
                initializer=_start,
                initargs=(consortium.to_dict(), dict(certificates), rotation_slack),
            )
        self._ahead = 2 * workers

    def map(
        self, chunks: Iterable[T], work: Callable[[T], tuple[list[bytes], list[str]]]
    ) -> Iterator[tuple[T, Checks]]:
        """Each chunk with its checks, in order; ``work(chunk)`` is its entries' stored
        bytes and its checkpoints' notes."""
        return self._in_order(chunks, work, partial(check, self._roots), _check)

    def compare(self, ranges: Iterable[Range]) -> Iterator[Compared]:
        """Each range compared, in order."""
        for _, compared in self._in_order(ranges, lambda r: (r,), compare, compare):
            yield compared

    def _in_order(
        self,
        items: Iterable[T],
        args: Callable[[T], tuple[Any, ...]],
        here: Callable[..., R],
        there: Callable[..., R],
    ) -> Iterator[tuple[T, R]]:
        """``here(*args(item))`` in this process, or ``there`` on the pool, a bounded
        number ahead of the caller; each item with its result, in order."""
        if self._pool is None:
            for item in items:
                yield item, here(*args(item))
            return
        pending: deque[tuple[T, Future[R]]] = deque()
        for item in items:
            pending.append((item, self._pool.submit(there, *args(item))))
            if len(pending) > self._ahead:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


_worker_roots: TrustRoots | None = None


def _start(
    consortium: dict[str, Any], certificates: dict[str, str], rotation_slack: dt.timedelta
) -> None:
    global _worker_roots  # one authenticator, and so one certificate cache, per worker
    _worker_roots = TrustRoots.of(Consortium.from_dict(consortium), certificates, rotation_slack)


def _check(entries: list[bytes], notes: list[str]) -> Checks:
    assert _worker_roots is not None
    return check(_worker_roots, entries, notes)
