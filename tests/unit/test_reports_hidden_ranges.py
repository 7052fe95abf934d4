"""A donor who takes hidden counts to be at least 1 learns no count below k, nor that one is.

Suppression hides a zero only as a last resort, so a donor may assume that every hidden
count is 1 or more. Then a row of 1, 20 and 1 people, published with its total of 22 and
the 20, leaves its two hidden cells 2 between them: 1 each. And a hidden count whose
greatest value is below k is known to be small. The donor's integer programme
(tests.support.whole_numbers), holding each hidden count that is not 0 to 1 or more,
must find every count below k free to be k or more: in one table, and across a month's
lattice of random tables.
"""

from __future__ import annotations

import pickle
from collections.abc import Hashable, Iterable, Mapping, Sequence

import pytest

from ledger_gw.reports.aggregates import Aggregates
from ledger_gw.reports.lattice import protect
from ledger_gw.reports.suppression import Suppressed, suppress
from tests.support.whole_numbers import whole_ranges
from tests.unit.test_reports_lattice import _month

K = 5
Cell = tuple[int, int]


def _short_of_k(
    value: Mapping[Hashable, int],
    hidden: Iterable[Hashable],
    lines: Iterable[tuple[Sequence[Hashable], Hashable]],
) -> dict[Hashable, tuple[int, float]]:
    """The counts below k a donor can tell are below k (each with its least and greatest
    value), taking every hidden count that is not 0 to be at least 1."""
    hidden = set(hidden)
    small = [e for e, v in value.items() if 0 < v < K]
    assert set(small) <= hidden, "every count below k is hidden"
    relations = [[*((e, 1) for e in parts), (total, -1)] for parts, total in lines]
    published = {e: v for e, v in value.items() if e not in hidden}
    least = {e: 1 for e in hidden if value[e] > 0}
    ranges = whole_ranges(relations, published, small, least)
    return {e: r for e, r in ranges.items() if r[1] < K}


def _table(counts: list[list[int]]) -> tuple[dict[Cell, int], list[tuple[list[Cell], Cell]]]:
    """The table with its margins (index ``cols`` the row total, ``rows`` the totals row),
    and its lines."""
    rows, cols = len(counts), len(counts[0])
    value = {(r, c): counts[r][c] for r in range(rows) for c in range(cols)}
    for r in range(rows):
        value[(r, cols)] = sum(counts[r])
    for c in range(cols + 1):
        value[(rows, c)] = sum(value[(r, c)] for r in range(rows))
    lines = [([(r, c) for c in range(cols)], (r, cols)) for r in range(rows + 1)]
    lines += [([(r, c) for r in range(rows)], (rows, c)) for c in range(cols + 1)]
    return value, lines


def _hidden(mask: Suppressed) -> set[Cell]:
    rows, cols = len(mask.cells), len(mask.column_totals)
    grid = [[*mask.cells[r], mask.row_totals[r]] for r in range(rows)]
    grid.append([*mask.column_totals, mask.total])
    return {(r, c) for r in range(rows + 1) for c in range(cols + 1) if grid[r][c]}


@pytest.mark.parametrize(
    "counts",
    [
        [[1, 20, 1], [6, 20, 7]],  # cash, in kind, voucher: 1 + 1 = 22 - 20
        [[1, 20, 1], [6, 20, 7], [9, 12, 10]],
        [[2, 1, 5, 0, 0]],  # referrals by state: 8 made, 5 completed leave 3 for two cells
        [[3, 10, 20], [15, 12, 30]],
    ],
)
def test_no_hidden_cell_of_a_table_is_known_to_be_small(counts: list[list[int]]) -> None:
    value, lines = _table(counts)
    hidden = _hidden(suppress(counts, K))
    assert _short_of_k(value, hidden, lines) == {}
    assert len(hidden) < len(value)  # the table is not hidden whole


@pytest.mark.parametrize(
    ("seed", "shape"), [(189, (3, 4, 3, 2)), (45, (3, 3, 3, 3)), (27, (4, 3, 3, 3))]
)
def test_no_count_below_k_of_a_month_is_known_to_be_small(
    seed: int, shape: tuple[int, ...]
) -> None:
    """Across the lattice's lines (each slice's table, each figure along the
    organisations and along the programmes), the same donor learns nothing more."""
    figures, lines = _month(seed, *shape)
    value = {(s, key): v for s, held in figures.items() for key, v in held.items()}
    hidden = protect(figures, lines, K)
    assert _short_of_k(value, hidden, lines) == {}
    assert len(hidden) < len(value) * 3 / 4  # a quarter of the month or more is published


def test_totals_saved_before_these_rules_are_not_read() -> None:
    """A gateway's saved totals hold its closed months suppressed: those saved under the
    earlier rules are refused, and the log folded again under these."""
    folded = Aggregates()
    folded.rules = 2
    with pytest.raises(ValueError, match="other rules"):
        pickle.loads(pickle.dumps(folded))  # noqa: S301 (our own)
