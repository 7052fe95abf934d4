"""Group commit across threads: who runs, what each caller gets back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger_gw.grouping import Grouped


class Gate:
    """A run that holds its first call until released, recording every run's items."""

    def __init__(self) -> None:
        self.runs: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.runs.append(list(items))
        if len(self.runs) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if -1 in items:
            raise ValueError("refused")
        return [i * 10 for i in items]


def _wait_for_waiters(grouped: Grouped[int, int], n: int) -> None:
    for _ in range(1000):
        if len(grouped._waiting) == n:
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"{n} callers never queued")


def test_a_lone_call_runs_at_once() -> None:
    gate = Gate()
    gate.release.set()
    assert Grouped(gate)([1, 2]) == [10, 20]
    assert gate.runs == [[1, 2]]


def test_calls_arriving_during_a_run_run_together_next_each_with_its_own_results() -> None:
    gate = Gate()
    grouped = Grouped(gate)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(grouped, [1])
        assert gate.entered.wait(10)
        later = [pool.submit(grouped, [n, n + 1]) for n in range(100, 106, 2)]
        _wait_for_waiters(grouped, 3)
        gate.release.set()
        assert first.result() == [10]
        assert [f.result() for f in later] == [[n * 10, n * 10 + 10] for n in range(100, 106, 2)]
    assert gate.runs[0] == [1]
    assert len(gate.runs) == 2
    assert sorted(gate.runs[1]) == list(range(100, 106))


def test_an_error_reaches_every_caller_of_its_run_and_no_other() -> None:
    gate = Gate()
    grouped = Grouped(gate)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(grouped, [1])
        assert gate.entered.wait(10)
        bad, good = pool.submit(grouped, [-1]), pool.submit(grouped, [2])
        _wait_for_waiters(grouped, 2)
        gate.release.set()
        assert first.result() == [10]
        for f in (bad, good):
            with pytest.raises(ValueError, match="refused"):
                f.result()
    assert grouped([3]) == [30]  # the next run is not affected


def test_a_run_answering_out_of_turn_fails_its_callers() -> None:
    grouped: Grouped[int, int] = Grouped(lambda items: items[:-1])
    with pytest.raises(RuntimeError, match="out of turn"):
        grouped([1, 2])
