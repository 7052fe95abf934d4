"""The donor's integer programme: which unknowns of linear relations one value fits.

Written apart from the reports' own check (SciPy's HiGHS, asked for the least and the
greatest value of each unknown over the whole, non-negative solutions), so that the
attack does not share a mistake with the defence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import coo_array

Relation = Sequence[tuple[Hashable, int]]  # (figure, coefficient): the sum is zero


def single_whole_values(
    relations: Iterable[Relation], known: Mapping[Hashable, int], asked: Iterable[Hashable]
) -> set[Hashable]:
    """Those of ``asked`` (figures not in ``known``) that every whole, non-negative
    solution of ``relations`` gives one value: their least and greatest agree."""
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
    pinned = set()
    for figure in sorted(set(asked) & set(column), key=repr):
        goal = np.zeros(n)
        goal[column[figure]] = 1
        ends = [milp(sign * goal, constraints=system, integrality=np.ones(n)) for sign in (1, -1)]
        assert ends[0].status == 0, "the true figures are a solution"
        if ends[1].status == 0 and round(ends[0].fun) == round(-ends[1].fun):
            pinned.add(figure)
    return pinned
