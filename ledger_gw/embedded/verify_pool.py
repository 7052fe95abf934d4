"""The checks of a log entry that need no contract state, on every core.

An entry's form, its certificate and signature, and its leaf hash depend on the entry
alone, and the signature is most of the cost of verifying a log; the contract's replay
depends on every entry before it and stays in one process, in log order. So chunks of
entries go to worker processes, a bounded number ahead of the replay, and come back
in order as :class:`Checks` that the replay consults at each position: the verdict
for a position is the same whichever process found it.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, NamedTuple, TypeVar

from ledger_gw.consortium import Consortium
from ledger_gw.errors import LedgerError
from ledger_gw.identity import Authenticator
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import leaf_hash
from ledger_gw.transaction import SignedTransaction

T = TypeVar("T")


class Checks(NamedTuple):
    """One chunk's verdicts, by offset in the chunk: only the faults are listed."""

    leaves: list[bytes]
    malformed: dict[int, str]  # not an entry, or not a well-formed transaction
    unsigned: dict[int, str]  # its certificate or signature fails


def check_entries(auth: Authenticator, entries: Sequence[bytes]) -> Checks:
    """Each entry parsed in full (canonical form, proposal, timestamp) and, if it
    parses, its certificate and signature checked; ``auth`` caches each certificate."""
    checks = Checks([leaf_hash(data) for data in entries], {}, {})
    for offset, data in enumerate(entries):
        try:
            entry = Entry.from_bytes(data)
            proposal = SignedTransaction.of_entry(entry).proposal
            at = proposal.time
        except (ValueError, LedgerError) as exc:
            checks.malformed[offset] = str(exc)
            continue
        try:
            auth.authenticate(proposal.creator, entry.signature, proposal.payload, at)
        except LedgerError as exc:
            checks.unsigned[offset] = str(exc)
    return checks


class EntryChecker:
    """``check_entries`` over a stream of chunks, in this process (one worker) or on a
    pool of ``workers`` processes that each parse a certificate once."""

    def __init__(self, consortium: Consortium, workers: int) -> None:
        self._auth = consortium.authenticator()
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            # Forked: a spawned worker would run the caller's main module again.
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(
                workers, context, initializer=_start, initargs=(consortium.to_dict(),)
            )
        self._ahead = 2 * workers

    def map(
        self, chunks: Iterable[T], entries: Callable[[T], list[bytes]]
    ) -> Iterator[tuple[T, Checks]]:
        """Each chunk with its checks, in order; ``entries(chunk)`` is its entries' bytes."""
        if self._pool is None:
            for chunk in chunks:
                yield chunk, check_entries(self._auth, entries(chunk))
            return
        pending: deque[tuple[T, Future[Checks]]] = deque()
        for chunk in chunks:
            pending.append((chunk, self._pool.submit(_check, entries(chunk))))
            if len(pending) > self._ahead:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


_worker_auth: Authenticator | None = None


def _start(consortium: dict[str, Any]) -> None:
    global _worker_auth  # one authenticator, and so one certificate cache, per worker
    _worker_auth = Consortium.from_dict(consortium).authenticator()


def _check(entries: list[bytes]) -> Checks:
    assert _worker_auth is not None
    return check_entries(_worker_auth, entries)
