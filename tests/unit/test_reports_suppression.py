"""Brute force: no suppressed cell can be pinned down from what is published."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from ledger_gw.reports.suppression import suppress


def _fillings(table: list[list[int]], k: int) -> tuple[list[tuple[int, int]], Found]:
    """Every non-negative filling of the hidden cells that fits the published figures.

    A depth-first search over the hidden cells, pruned by the published row, column and
    grand totals; it stops early once every hidden cell is known to take two values.
    """
    mask = suppress(table, k)
    rows, cols = len(table), len(table[0])
    hidden = [(r, c) for r in range(rows) for c in range(cols) if mask.cells[r][c]]
    row_tot = [None if mask.row_totals[r] else sum(table[r]) for r in range(rows)]
    col_tot = [
        None if mask.column_totals[c] else sum(table[r][c] for r in range(rows))
        for c in range(cols)
    ]
    grand = None if mask.total else sum(map(sum, table))
    t = [[0 if mask.cells[r][c] else table[r][c] for c in range(cols)] for r in range(rows)]
    last_in_row = {r: max(i for i, (rr, _) in enumerate(hidden) if rr == r) for r, _ in hidden}
    last_in_col = {c: max(i for i, (_, cc) in enumerate(hidden) if cc == c) for _, c in hidden}
    found = Found([set() for _ in hidden], truth=False)
    truth = tuple(table[r][c] for r, c in hidden)

    def fits(i: int) -> bool:
        r, c = hidden[i]
        row_sum, col_sum = sum(t[r]), sum(t[x][c] for x in range(rows))
        if row_tot[r] is not None and (
            row_sum > row_tot[r] or (last_in_row[r] == i and row_sum != row_tot[r])
        ):
            return False
        if col_tot[c] is not None and (
            col_sum > col_tot[c] or (last_in_col[c] == i and col_sum != col_tot[c])
        ):
            return False
        return grand is None or sum(map(sum, t)) <= grand

    def search(i: int, chosen: list[int]) -> bool:
        """True when the search may stop."""
        if i == len(hidden):
            if grand is not None and sum(map(sum, t)) != grand:
                return False
            for seen, v in zip(found.values, chosen, strict=True):
                seen.add(v)
            found.truth = found.truth or tuple(chosen) == truth
            return found.truth and all(len(v) >= 2 for v in found.values)
        r, c = hidden[i]
        known = [v for v in (row_tot[r], col_tot[c], grand) if v is not None]
        for v in range(min(known) if known else 3 * k, -1, -1):
            t[r][c] = v
            if fits(i) and search(i + 1, [*chosen, v]):
                return True
        t[r][c] = 0
        return False

    if hidden:
        search(0, [])
    return hidden, found


@dataclass
class Found:
    values: list[set[int]]  # the values each hidden cell takes across all fillings
    truth: bool  # the real table is among the fillings


def _tables(seed: int) -> list[list[int]]:
    rnd = random.Random(seed)
    rows, cols = rnd.choice([(2, 2), (2, 3), (3, 3)])
    return [[rnd.choice([0, 1, 2, 3, 4, 5, 6, 8, 11]) for _ in range(cols)] for _ in range(rows)]


@pytest.mark.parametrize("seed", range(60))
def test_no_hidden_cell_is_recoverable(seed: int) -> None:
    table = _tables(seed)
    hidden, found = _fillings(table, k=5)
    assert found.truth or not hidden  # the real table fits what is published
    for (r, c), values in zip(hidden, found.values, strict=True):
        assert len(values) >= 2, f"cell {(r, c)} of {table} is determined: {values}"
    for r, row in enumerate(table):  # every small cell is hidden
        for c, v in enumerate(row):
            if 0 < v < 5:
                assert (r, c) in hidden


def test_single_small_cell_gets_complements() -> None:
    table = [[3, 10, 20], [15, 12, 30]]
    mask = suppress(table, 5)
    assert mask.cells[0][0]
    assert sum(mask.cells[0]) >= 2
    assert mask.cells[1][0]


def test_nothing_small_nothing_hidden() -> None:
    assert not suppress([[5, 6], [0, 7]], 5).any
