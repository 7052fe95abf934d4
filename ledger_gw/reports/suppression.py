"""Small-cell suppression for a two-way table published with its margins.

Primary suppression hides every cell (and margin) counting 1..k-1 people.
Complementary suppression then makes sure no hidden count can be recovered by
arithmetic: in the table extended with its totals, every line (a row with its
row total, a column with its column total, the totals row with the grand total)
must hide either nothing or at least two entries. A line with exactly one hidden
entry gets a second one: the smallest non-zero cell of the line (zero cells are
never used, since a published zero pins its partner down), else the line's total.
This repeats until nothing changes (the classic "hypercube"-style heuristic used by
statistical offices); then the table's equations are solved, and more is hidden while
they still pin a hidden count down, or show one below k (:mod:`ledger_gw.reports.disclosure`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ledger_gw.reports import disclosure

DEFAULT_K = 5
#: The p% rule's p for amounts, as statistical offices commonly set it.
P_PERCENT = Decimal("0.10")


@dataclass(frozen=True)
class Suppressed:
    """Which entries of the extended table are hidden.

    ``cells[r][c]``, ``row_totals[r]``, ``column_totals[c]`` and ``total`` are True
    where the value must not be published.
    """

    cells: tuple[tuple[bool, ...], ...]
    row_totals: tuple[bool, ...]
    column_totals: tuple[bool, ...]
    total: bool

    @property
    def any(self) -> bool:
        return (
            self.total
            or any(self.row_totals)
            or any(self.column_totals)
            or any(any(row) for row in self.cells)
        )


def _small(value: int, k: int) -> bool:
    return 0 < value < k


Grid = list[list[disclosure.Number]]
Cell = tuple[int, int]


def _extended(values: Sequence[Sequence[disclosure.Number]]) -> Grid:
    """The table with its totals: index cols is the row total, index rows the totals row."""
    rows, cols = len(values), len(values[0]) if values else 0
    ext: Grid = [[*row, sum(row)] for row in values]
    ext.append([sum(values[r][c] for r in range(rows)) for c in range(cols)])
    ext[rows].append(sum(ext[rows][:cols]))
    return ext


def _lines(rows: int, cols: int) -> list[disclosure.Line[Cell]]:
    lines: list[disclosure.Line[Cell]] = [
        ([(r, c) for c in range(cols)], (r, cols)) for r in range(rows + 1)
    ]
    return lines + [([(r, c) for r in range(rows)], (rows, c)) for c in range(cols + 1)]


def _pattern(hidden: Sequence[Sequence[bool]], rows: int, cols: int) -> Suppressed:
    return Suppressed(
        tuple(tuple(hidden[r][:cols]) for r in range(rows)),
        tuple(hidden[r][cols] for r in range(rows)),
        tuple(hidden[rows][:cols]),
        hidden[rows][cols],
    )


def _entries(mask: Suppressed) -> set[Cell]:
    rows, cols = len(mask.cells), len(mask.column_totals)
    grid = [[*mask.cells[r], mask.row_totals[r]] for r in range(rows)]
    grid.append([*mask.column_totals, mask.total])
    return {(r, c) for r in range(rows + 1) for c in range(cols + 1) if grid[r][c]}


def suppress(counts: Sequence[Sequence[int]], k: int = DEFAULT_K) -> Suppressed:
    """The suppression pattern of a table of people counts (rows x columns, additive)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    rows, cols = len(counts), len(counts[0]) if counts else 0
    ext = _extended(counts)
    value = {(r, c): v for r, row in enumerate(ext) for c, v in enumerate(row)}
    small = {e for e, v in value.items() if _small(int(v), k)}
    hidden = [[(r, c) in small for c in range(cols + 1)] for r in range(rows + 1)]

    def fix(line: Sequence[Cell], total: Cell) -> bool:
        entries = [*line, total]
        if sum(hidden[r][c] for r, c in entries) != 1:
            return False
        candidates = sorted(
            (ext[r][c], r, c) for r, c in line if not hidden[r][c] and ext[r][c] > 0
        )
        if candidates:
            _, r, c = candidates[0]
        elif not hidden[total[0]][total[1]]:
            r, c = total
        else:  # only zero cells left beside a hidden total: hide the smallest of them
            r, c = next((rr, cc) for rr, cc in line if not hidden[rr][cc])
        hidden[r][c] = True
        return True

    lines = _lines(rows, cols)
    changed = True
    while changed:
        changed = False
        for line, total in lines:
            changed |= fix(line, total)
    # Two hidden per line is not enough when hidden cells form a tree: solve for them.
    marked = {e for e in value if hidden[e[0]][e[1]]}
    for r, c in disclosure.complete(value, marked, lines, small, k):
        hidden[r][c] = True
    return _pattern(hidden, rows, cols)


def small_counts(counts: Sequence[Sequence[int]], k: int = DEFAULT_K) -> Suppressed:
    """Where the extended table counts 1 to k-1: what no published figure may give away."""
    rows, cols = len(counts), len(counts[0]) if counts else 0
    return _pattern([[_small(int(v), k) for v in row] for row in _extended(counts)], rows, cols)


def either(a: Suppressed, b: Suppressed) -> Suppressed:
    """The entries hidden in ``a`` or in ``b`` (two patterns of one table's shape)."""
    rows, cols = len(a.cells), len(a.column_totals)
    hidden = _entries(a) | _entries(b)
    return _pattern(
        [[(r, c) in hidden for c in range(cols + 1)] for r in range(rows + 1)], rows, cols
    )


def revealing_amounts(
    paid: Sequence[Sequence[Mapping[str, Decimal]]], k: int = DEFAULT_K, p: Decimal = P_PERCENT
) -> Suppressed:
    """Where an amount gives away a person's payment (``paid[r][c]``: what each person was
    paid there, in one currency): paid to 1 to k-1 people, its amount is the sum of a
    few payments; or, by the p% rule, so much of it went to one person that the rest is
    less than ``p`` of hers, and the amount less whatever was paid to one other person
    tells her payment within p% (one payment of 1,960 among four of 10 shows as 2,000).
    Margins are judged on each person's sum over their line."""
    rows, cols = len(paid), len(paid[0]) if paid else 0
    row_sums = [_merged(paid[r]) for r in range(rows)]
    col_sums = [_merged(paid[r][c] for r in range(rows)) for c in range(cols)]
    grid = [[_gives_away(paid[r][c], k, p) for c in range(cols)] for r in range(rows)]
    for r in range(rows):
        grid[r].append(_gives_away(row_sums[r], k, p))
    grid.append([_gives_away(s, k, p) for s in col_sums])
    grid[rows].append(_gives_away(_merged(row_sums), k, p))
    return _pattern(grid, rows, cols)


def _merged(parts: Iterable[Mapping[str, Decimal]]) -> dict[str, Decimal]:
    """Each person's sum over ``parts``."""
    out: dict[str, Decimal] = {}
    for part in parts:
        for person, amount in part.items():
            out[person] = out.get(person, Decimal(0)) + amount
    return out


def _gives_away(payments: Mapping[str, Decimal], k: int, p: Decimal) -> bool:
    if _small(len(payments), k):
        return True
    first, second = (heapq.nlargest(2, payments.values()) + [Decimal(0)] * 2)[:2]
    return sum(payments.values()) - first - second < p * first


def widen(
    mask: Suppressed, values: Sequence[Sequence[disclosure.Number]], small: Suppressed
) -> Suppressed:
    """``mask`` (the people's, with the entries one currency paid few people) widened
    for another measure of the same cells, such as that currency's amounts, until that
    measure gives away none of the ``small`` entries: its zeros differ from the
    people's (a cell paid in another currency), and a published zero pins the hidden
    cells of its line."""
    rows, cols = len(mask.cells), len(mask.column_totals)
    ext = _extended(values)
    value = {(r, c): v for r, row in enumerate(ext) for c, v in enumerate(row)}
    hidden = disclosure.complete(value, _entries(mask), _lines(rows, cols), _entries(small))
    grid = [[(r, c) in hidden for c in range(cols + 1)] for r in range(rows + 1)]
    return _pattern(grid, rows, cols)
