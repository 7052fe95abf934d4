"""Group commit for calls from many threads: those that arrive while one run is under way
are run together next, by one of them.

Many clients sending one event each should cost what one client sending them in a batch
costs: one snapshot, one hand-over, one commit for all of them. No thread waits for a
batch to fill: a call arriving while nothing runs is run at once, alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Call(Generic[T, R]):
    __slots__ = ("error", "items", "results")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.results: list[R] | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.results is not None or self.error is not None


class Grouped(Generic[T, R]):
    """`run` takes the items of every call waiting, in their order, and returns one
    result per item; each caller gets its own items' results, or what `run` raised."""

    def __init__(self, run: Callable[[list[T]], Sequence[R]]) -> None:
        self._run = run
        self._turn = threading.Condition()
        self._waiting: list[_Call[T, R]] = []
        self._running = False

    def __call__(self, items: Sequence[T]) -> list[R]:
        call: _Call[T, R] = _Call(items)
        calls: list[_Call[T, R]] = []
        with self._turn:
            self._waiting.append(call)
            while self._running and not call.done:
                self._turn.wait()
            if not call.done:  # nothing runs: this thread runs every call waiting
                self._running = True
                calls, self._waiting = self._waiting, []
        if calls:
            self._run_for(calls)
        if call.error is not None:
            raise call.error
        assert call.results is not None
        return call.results

    def _run_for(self, calls: list[_Call[T, R]]) -> None:
        try:
            results = list(self._run([item for c in calls for item in c.items]))
            if len(results) != sum(len(c.items) for c in calls):
                raise RuntimeError("a grouped run answered out of turn")
            start = 0
            for c in calls:
                c.results, start = results[start : start + len(c.items)], start + len(c.items)
        except BaseException as exc:  # every caller of this run hears it
            for c in calls:
                c.error = exc
        finally:
            with self._turn:
                self._running = False
                self._turn.notify_all()
