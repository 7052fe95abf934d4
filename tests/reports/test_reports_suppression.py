"""Brute force: no suppressed cell can be pinned down from what is published."""

from __future__ import annotations

import itertools
import random

import pytest

from ledger_gw.reports.suppression import suppress


def _fillings(
    table: list[list[int]], k: int
) -> tuple[list[tuple[int, int]], list[tuple[int, ...]]]:
    """All non-negative fillings of the hidden cells consistent with the published margins."""
    mask = suppress(table, k)
    rows, cols = len(table), len(table[0])
    hidden = [(r, c) for r in range(rows) for c in range(cols) if mask.cells[r][c]]
    row_tot = [None if mask.row_totals[r] else sum(table[r]) for r in range(rows)]
    col_tot = [
        None if mask.column_totals[c] else sum(table[r][c] for r in range(rows))
        for c in range(cols)
    ]
    grand = None if mask.total else sum(map(sum, table))

    def bound(r: int, c: int) -> int:
        known = [v for v in (row_tot[r], col_tot[c], grand) if v is not None]
        return min(known) if known else 3 * k

    space = 1
    for r, c in hidden:
        space *= bound(r, c) + 1
    if space > 300_000:
        pytest.skip("search space too large to enumerate quickly")
    solutions = []
    for values in itertools.product(*(range(bound(r, c) + 1) for r, c in hidden)):
        t = [row[:] for row in table]
        for (r, c), v in zip(hidden, values, strict=True):
            t[r][c] = v
        if (
            all(row_tot[r] in (None, sum(t[r])) for r in range(rows))
            and all(col_tot[c] in (None, sum(t[r][c] for r in range(rows))) for c in range(cols))
            and grand in (None, sum(map(sum, t)))
        ):
            solutions.append(values)
    return hidden, solutions


def _tables(seed: int) -> list[list[int]]:
    rnd = random.Random(seed)
    rows, cols = rnd.choice([(2, 2), (2, 3), (3, 3)])
    return [[rnd.choice([0, 1, 2, 3, 4, 5, 6, 8, 11]) for _ in range(cols)] for _ in range(rows)]


@pytest.mark.parametrize("seed", range(60))
def test_no_hidden_cell_is_recoverable(seed: int) -> None:
    table = _tables(seed)
    hidden, solutions = _fillings(table, k=5)
    assert tuple(table[r][c] for r, c in hidden) in solutions  # the truth is consistent
    for i, (r, c) in enumerate(hidden):
        values = {s[i] for s in solutions}
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
