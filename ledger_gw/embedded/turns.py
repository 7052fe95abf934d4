"""Threads of one serving process take turns at submitting, and give the turn up while
they wait for the ledger's appender.

Python threads share one interpreter lock. Two that compute at once hand it to each
other at every short call into C (a SQLite query, a signature), and on a busy machine
those hand-overs cost more CPU than the work between them. A request that takes its
turn checks, signs and runs the contract for all its events alone, then lets the next
request compute while its own transactions are being appended.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        if getattr(self._holder, "holds", False):  # already this thread's turn
            yield
            return
        with self._lock:
            self._holder.holds = True
            try:
                yield
            finally:
                self._holder.holds = False

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Gives this thread's turn up, if it has one, until the wait is over."""
        if not getattr(self._holder, "holds", False):
            yield
            return
        self._holder.holds = False
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._holder.holds = True
