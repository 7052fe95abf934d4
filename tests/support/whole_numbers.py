"""The donor's integer programme: which unknowns of linear relations one value fits.

Written apart from the reports' own check (SciPy's HiGHS, asked for the least and the
greatest value of each unknown over the whole, non-negative solutions, or those with
each hidden figure at least 1), so that the attack does not share a mistake with the
defence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

Relation = Sequence[tuple[Hashable, int]]  # (figure, coefficient): the sum is zero


def single_whole_values(
    relations: Iterable[Relation],
    known: Mapping[Hashable, int],
    asked: Iterable[Hashable],
    least: Mapping[Hashable, int] | None = None,
) -> set[Hashable]:
    """Those of ``asked`` (figures not in ``known``) that every whole solution of
    ``relations`` gives one value: their least and greatest agree."""
    ranges = whole_ranges(relations, known, asked, least)
    return {figure for figure, (low, high) in ranges.items() if low == high}


def whole_ranges(
    relations: Iterable[Relation],
    known: Mapping[Hashable, int],
    asked: Iterable[Hashable],
    least: Mapping[Hashable, int] | None = None,
) -> dict[Hashable, tuple[int, float]]:
    """The least and greatest value (inf: unbounded) of each of ``asked`` (figures not in
    ``known``) over the whole solutions of ``relations`` with each unknown figure at least
    ``least`` of it, 0 by default (a donor who takes hidden figures to be non-zero)."""
    rows: list[dict[Hashable, int]] = []
    rhs: list[int] = []
    for relation in relations:
        coefficients: dict[Hashable, int] = defaultdict(int)
        constant = 0
        for figure, c in relation:
            if figure in known:
                constant += c * known[figure]
            else:
                coefficients[figure] += c
        if any(coefficients.values()):
            rows.append(coefficients)
            rhs.append(-constant)
    column = {f: i for i, f in enumerate(sorted({f for r in rows for f in r}, key=repr))}
    cells = [(i, column[f], c) for i, r in enumerate(rows) for f, c in r.items() if c]
    n = len(column)
    matrix = coo_array(
        ([c for _, _, c in cells], ([i for i, _, _ in cells], [j for _, j, _ in cells])),
        shape=(len(rows), n),
    )
    system = LinearConstraint(matrix, rhs, rhs)
    lower = np.zeros(n)
    for figure, i in column.items():
        lower[i] = (least or {}).get(figure, 0)
    bounds = Bounds(lower, np.inf)
    out: dict[Hashable, tuple[int, float]] = {}
    for figure in sorted(set(asked) & set(column), key=repr):
        goal = np.zeros(n)
        goal[column[figure]] = 1
        ends = [
            milp(sign * goal, constraints=system, integrality=np.ones(n), bounds=bounds)
            for sign in (1, -1)
        ]
        assert ends[0].status == 0, "the true figures are a solution"
        greatest = round(-ends[1].fun) if ends[1].status == 0 else np.inf
        out[figure] = (round(ends[0].fun), greatest)
    return out
