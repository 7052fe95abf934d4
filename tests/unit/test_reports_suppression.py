"""Brute force: no suppressed cell can be pinned down from what is published."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest

from ledger_gw.reports.suppression import Suppressed, small_counts, suppress, widen


def _fillings(table: list[list[int]], k: int) -> tuple[list[tuple[int, int]], Found]:
    """Values each hidden cell takes in non-negative fillings that fit the published figures.

    A depth-first search over the hidden cells, pruned by the published row, column and
    grand totals, each cell tried nearest its true value first: once from the start (it
    finds the real table if it fits), then once per hidden cell, searched first and kept
    off its true value (a filling found shows that it takes two values).
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

    def filling(order: list[tuple[int, int]], avoid: bool) -> list[int] | None:
        """The first filling found, cells in ``order``; ``order[0]`` off its true value
        when ``avoid``."""
        last_in_row = {r: max(i for i, (rr, _) in enumerate(order) if rr == r) for r, _ in order}
        last_in_col = {c: max(i for i, (_, cc) in enumerate(order) if cc == c) for _, c in order}

        def fits(i: int) -> bool:
            r, c = order[i]
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

        def search(i: int) -> bool:
            if i == len(order):
                return grand is None or sum(map(sum, t)) == grand
            r, c = order[i]
            known = [v for v in (row_tot[r], col_tot[c], grand) if v is not None]
            top = min(known) if known else 3 * k
            for v in sorted(range(top + 1), key=lambda v: (abs(v - table[r][c]), v)):
                if avoid and i == 0 and v == table[r][c]:
                    continue
                t[r][c] = v
                if fits(i) and search(i + 1):
                    return True
            t[r][c] = 0
            return False

        found = [t[r][c] for r, c in order] if search(0) else None
        for r, c in order:
            t[r][c] = 0
        return found

    truth = [table[r][c] for r, c in hidden]
    found = Found([{v} for v in truth], truth=not hidden or filling(hidden, False) == truth)
    for i, cell in enumerate(hidden):
        other = filling([cell, *(h for h in hidden if h != cell)], True)
        if other is not None:
            found.values[i].add(other[0])
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


def _rank(rows: list[list[Fraction]]) -> int:
    """Rank by dense Gaussian elimination (checks reports.disclosure another way)."""
    m, rank = [list(r) for r in rows], 0
    for c in range(len(m[0]) if m else 0):
        pivot = next((i for i in range(rank, len(m)) if m[i][c]), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][c]:
                f = m[i][c] / m[rank][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[rank], strict=True)]
        rank += 1
    return rank


def _solvable(table: list[list[int]], k: int) -> list[tuple[int, int]]:
    """The hidden cells (margins included) that the published figures' equations fix:
    a cell is fixed when adding "this cell is known" does not raise the rank."""
    mask = suppress(table, k)
    rows, cols = len(table), len(table[0])
    hidden = [(r, c) for r in range(rows) for c in range(cols) if mask.cells[r][c]]
    hidden += [(r, cols) for r in range(rows) if mask.row_totals[r]]
    hidden += [(rows, c) for c in range(cols) if mask.column_totals[c]]
    hidden += [(rows, cols)] if mask.total else []
    index = {e: i for i, e in enumerate(hidden)}
    lines = [([(r, c) for c in range(cols)], (r, cols)) for r in range(rows + 1)]
    lines += [([(r, c) for r in range(rows)], (rows, c)) for c in range(cols + 1)]
    equations = []
    for parts, total in lines:
        row = [Fraction(0)] * len(hidden)
        for e in parts:
            if e in index:
                row[index[e]] += 1
        if total in index:
            row[index[total]] -= 1
        equations.append(row)
    base = _rank(equations)
    fixed = []
    for e, i in index.items():
        known = [Fraction(int(j == i)) for j in range(len(hidden))]
        if _rank([*equations, known]) == base:
            fixed.append(e)
    return [(r, c) for r, c in fixed if r < rows and c < cols and 0 < table[r][c] < k]


@pytest.mark.parametrize(
    "table",
    [
        [[0, 8, 0, 6], [8, 8, 4, 0], [1, 1, 0, 8]],  # SS03/cash = 10 − (9 + 14 − 14) before
        [[1, 1, 1, 50], [1, 1, 50, 50], [50, 50, 1, 1], [50, 50, 1, 1]],
    ],
)
def test_hidden_cells_that_form_a_tree_are_not_solved_for(table: list[list[int]]) -> None:
    """Two hidden entries on every line, and yet each small cell fixed by the equations
    of its row and column: the suppression hides more until none is."""
    assert _solvable(table, 5) == []


@pytest.mark.parametrize("seed", range(40))
def test_no_small_cell_of_a_larger_table_is_solved_for(seed: int) -> None:
    rnd = random.Random(seed)
    rows, cols = rnd.randint(3, 6), rnd.randint(3, 5)
    table = [[rnd.choice([0, 0, 1, 2, 4, 6, 8, 9, 30]) for _ in range(cols)] for _ in range(rows)]
    assert _solvable(table, 5) == []


def test_a_currencys_published_zero_pins_nothing_the_people_hide() -> None:
    """SS01 reaches 3 people with cash (hidden), 20 in kind, 7 with vouchers paid in
    EUR. In the USD table the vouchers' column is 0 everywhere: published, it pins the
    hidden voucher cells at 0, and then SS01's cash is its row total less in kind."""
    people = [[3, 20, 7], [30, 40, 9]]
    usd = [[Decimal(150), Decimal(1000), Decimal(0)], [Decimal(1500), Decimal(2000), Decimal(0)]]
    mask = suppress(people, 5)
    assert mask.cells[0][0]
    # the people's mask publishes all three in the USD table: the attack is a real one
    assert [mask.row_totals[0], mask.cells[0][1], mask.column_totals[2]] == [False] * 3
    widened = widen(mask, usd, small_counts(people, 5))
    for a, b in zip(_hidden(mask), _hidden(widened), strict=True):
        assert b or not a  # only ever more hidden
    published = (
        not widened.row_totals[0],
        not widened.cells[0][1],
        not widened.column_totals[2],
    )
    assert not all(published), "SS01 cash = 1150 − 1000 − 0"
    assert widened.cells[0][0]


def _hidden(mask: Suppressed) -> list[bool]:
    return [*(v for row in mask.cells for v in row), *mask.row_totals, *mask.column_totals]
