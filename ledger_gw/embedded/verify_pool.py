"""The checks that need no contract state, on every core.

An entry's form, its certificate and signature, and its leaf hash depend on the entry
alone, as a checkpoint's signatures depend on its note alone; these signatures are
most of the cost of verifying a log (a log written one entry at a time holds a
checkpoint per entry). The contract's replay depends on every entry before it and
stays in one process, in log order. So chunks of entries, with the checkpoints of the
same sizes, go to worker processes, a bounded number ahead of the replay, and come
back in order as :class:`Checks` that the replay consults where it used to check: a
verdict is the same whichever process found it.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from ledger_gw.consortium import Consortium
from ledger_gw.errors import LedgerError
from ledger_gw.identity import Authenticator
from ledger_gw.log.checkpoint import CheckpointError, NoteVerifier, open_checkpoint
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import leaf_hash
from ledger_gw.transaction import Certificates, SignedTransaction

T = TypeVar("T")


class Opened(NamedTuple):
    """What a checkpoint whose signatures verify says, and how many witnesses cosigned."""

    origin: str
    size: int
    root: bytes
    cosignatures: int


class Checks(NamedTuple):
    """One chunk's verdicts, by offset in the chunk: only the faults are listed."""

    leaves: list[bytes]
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

    @classmethod
    def of(cls, consortium: Consortium, certificates: Certificates) -> TrustRoots:
        return cls(
            consortium.authenticator(),
            NoteVerifier.from_vkey(consortium.log_vkey),
            consortium.witness_verifiers(),
            certificates,
        )


def check(roots: TrustRoots, entries: Sequence[bytes], notes: Sequence[str]) -> Checks:
    """Each entry parsed in full (canonical form, proposal, timestamp) and, if it
    parses, its certificate and signature checked; each note's signatures checked."""
    checks = Checks([leaf_hash(data) for data in entries], {}, {}, [])
    auth = roots.auth
    for offset, data in enumerate(entries):
        try:
            entry = Entry.from_bytes(data)
            proposal = SignedTransaction.of_entry(entry, roots.certificates).proposal
            at = proposal.time
        except (ValueError, LedgerError) as exc:
            checks.malformed[offset] = str(exc)
            continue
        try:
            auth.authenticate(proposal.creator, entry.signature, proposal.payload, at)
        except LedgerError as exc:
            checks.unsigned[offset] = str(exc)
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
    """``check`` over a stream of chunks, in this process (one worker) or on a pool of
    ``workers`` processes."""

    def __init__(self, consortium: Consortium, certificates: Certificates, workers: int) -> None:
        self._roots = TrustRoots.of(consortium, certificates)
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            # Forked: a spawned worker would run the caller's main module again, and a
            # forked one inherits the trust roots as they are, nothing lost in a copy.
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(
                workers, context, initializer=_start, initargs=(self._roots,)
            )
        self._ahead = 2 * workers

    def map(
        self, chunks: Iterable[T], work: Callable[[T], tuple[list[bytes], list[str]]]
    ) -> Iterator[tuple[T, Checks]]:
        """Each chunk with its checks, in order; ``work(chunk)`` is its entries' bytes
        and its checkpoints' notes."""
        if self._pool is None:
            for chunk in chunks:
                yield chunk, check(self._roots, *work(chunk))
            return
        pending: deque[tuple[T, Future[Checks]]] = deque()
        for chunk in chunks:
            pending.append((chunk, self._pool.submit(_check, *work(chunk))))
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


def _start(roots: TrustRoots) -> None:
    global _worker_roots  # one authenticator, and so one certificate cache, per worker
    _worker_roots = roots


def _check(entries: list[bytes], notes: list[str]) -> Checks:
    assert _worker_roots is not None
    return check(_worker_roots, entries, notes)
