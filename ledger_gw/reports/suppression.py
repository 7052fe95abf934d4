"""Small-cell suppression for a two-way table published with its margins.

Primary suppression hides every cell (and margin) counting 1..k-1 people.
Complementary suppression then makes sure no hidden value can be recovered by
subtraction: in the table extended with its totals, every line (a row with its
row total, a column with its column total, the totals row with the grand total)
must hide either nothing or at least two entries. A line with exactly one hidden
entry gets a second one: the smallest non-zero cell of the line (zero cells are
never used, since a published zero pins its partner down), else the line's total.
This repeats until nothing changes (the classic "hypercube"-style heuristic used by
statistical offices; it is not an optimal suppression, it is a safe and simple one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_K = 5


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


def suppress(counts: Sequence[Sequence[int]], k: int = DEFAULT_K) -> Suppressed:
    """The suppression pattern of a table of people counts (rows x columns, additive)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    rows, cols = len(counts), len(counts[0]) if counts else 0
    # Extended table: index cols is the row total, index rows is the column-total row.
    ext = [[*row, sum(row)] for row in counts]
    ext.append([sum(counts[r][c] for r in range(rows)) for c in range(cols)])
    ext[rows].append(sum(ext[rows][:cols]))
    hidden = [[_small(v, k) for v in row] for row in ext]

    def fix(line: list[tuple[int, int]], total: tuple[int, int]) -> bool:
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

    changed = True
    while changed:
        changed = False
        for r in range(rows + 1):
            changed |= fix([(r, c) for c in range(cols)], (r, cols))
        for c in range(cols + 1):
            changed |= fix([(r, c) for r in range(rows)], (rows, c))
    return Suppressed(
        tuple(tuple(hidden[r][:cols]) for r in range(rows)),
        tuple(hidden[r][cols] for r in range(rows)),
        tuple(hidden[rows][:cols]),
        hidden[rows][cols],
    )
