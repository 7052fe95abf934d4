"""Which hidden counts have a single value once counts are known to be whole numbers.

The equations of a release's lines leave a hidden count open when they have more than
one solution in it; but counts are whole numbers and never negative (amounts too, in
their smallest unit), and an attacker's integer programme uses that. Across a lattice's
many lines it can pin a count that the equations leave open: one solution in whole
numbers, where the equations alone have many.

For each hidden count asked about, the solver (HiGHS, through SciPy) is asked for a
whole, non-negative solution of every line with that count one more than it is, then one
less. A solution found is checked here exactly, in integers; it shows that count free,
and every other count it moves. When there is none either way, the count is given away.
Hiding more figures only adds unknowns, so a count once shown free stays free: the
caller keeps those (``free``) from one round of hiding to the next. SciPy is imported
when a report is first suppressed, not by every process that imports the reports.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

E = TypeVar("E", bound=Hashable)

# The largest whole number a double holds exactly, and every one below it: the solver
# reads the figures as doubles, so beyond this no question is settled, and all that was
# asked counts as given away (amounts this large are hidden, not misjudged).
_EXACT = 2**53
# The branch-and-bound nodes one question may take. Lattices' questions are settled at
# the first (the root's presolve and cuts); a question left open at the limit counts as
# no solution, so that a release is never held up and errs towards hiding more.
_NODE_LIMIT = 1000


def single_solutions(
    value: Mapping[E, int | Decimal],
    unknown: Collection[E],
    lines: Iterable[tuple[Sequence[E], E]],
    asked: Iterable[E],
    free: set[E],
) -> list[E]:
    """Those of ``asked`` (unknown entries with a value) whose value every whole,
    non-negative solution of ``lines`` gives them. ``free`` holds the entries shown to
    have another: they are not asked again, and those found here are added."""
    todo = sorted((e for e in asked if e not in free), key=repr)
    if not todo:
        return []
    system = _System.of(value, unknown, lines)
    if system is None or any(abs(system.truth(e)) > _EXACT for e in todo):
        return todo
    given_away = []
    for e in todo:
        if e in free:  # a solution found for an earlier one moved it too
            continue
        truth = system.truth(e)
        for low, high in ((truth + 1, None), (0, truth - 1)):
            if high is not None and high < low:
                continue
            found = system.solve(e, low, high)
            if found is not None:
                free.update(a for a in todo if found[system.column[a]] != system.truth(a))
                break
        else:
            given_away.append(e)
    return given_away


@dataclass
class _System:
    """The lines as integer equations over the unknown entries: ``A x = b``, ``x >= 0``."""

    column: dict[Any, int]
    matrix: Any  # scipy.sparse.csr_array of small integers
    rhs: Any  # numpy int64 array
    scale: int  # published values times this are whole (amounts: their smallest unit)
    value: Mapping[Any, int | Decimal]

    @classmethod
    def of(
        cls,
        value: Mapping[E, int | Decimal],
        unknown: Collection[E],
        lines: Iterable[tuple[Sequence[E], E]],
    ) -> _System | None:
        """None when a figure is beyond what the solver reads exactly."""
        import numpy as np
        from scipy.sparse import coo_array

        scale = _scale(value.values())
        column = {e: i for i, e in enumerate(sorted(unknown, key=repr))}
        rows: list[int] = []
        cols: list[int] = []
        data: list[int] = []
        rhs: list[int] = []
        for parts, total in lines:
            coefficients: dict[int, int] = {}
            known = 0
            for e, sign in [*((p, 1) for p in parts), (total, -1)]:
                if e in column:
                    coefficients[column[e]] = coefficients.get(column[e], 0) + sign
                else:
                    known += sign * _whole(value[e], scale)
            coefficients = {c: v for c, v in coefficients.items() if v}
            if not coefficients:
                continue
            for c, v in coefficients.items():
                rows.append(len(rhs))
                cols.append(c)
                data.append(v)
            rhs.append(-known)
        if any(abs(b) > _EXACT for b in rhs):
            return None
        matrix = coo_array(
            (np.array(data, dtype=np.int64), (rows, cols)), shape=(len(rhs), len(column))
        ).tocsr()
        return cls(column, matrix, np.array(rhs, dtype=np.int64), scale, value)

    def truth(self, e: Any) -> int:
        return _whole(self.value[e], self.scale)

    def solve(self, e: Any, low: int, high: int | None) -> Any:
        """A whole, non-negative solution with ``low <= e <= high``, checked exactly; None
        when the solver finds none (or one that does not check)."""
        import numpy as np
        from scipy.optimize import Bounds, LinearConstraint, milp

        n = len(self.column)
        lower, upper = np.zeros(n), np.full(n, np.inf)
        i = self.column[e]
        lower[i] = low
        upper[i] = np.inf if high is None else high
        b = self.rhs.astype(float)
        result = milp(
            np.zeros(n),
            constraints=LinearConstraint(self.matrix, b, b),
            integrality=np.ones(n),
            bounds=Bounds(lower, upper),
            options={"node_limit": _NODE_LIMIT},
        )
        if result.x is None:
            return None
        x = np.rint(result.x).astype(np.int64)
        exact = (
            bool((self.matrix @ x == self.rhs).all())
            and bool((x >= 0).all())
            and low <= int(x[i])
            and (high is None or int(x[i]) <= high)
        )
        return x if exact else None


def _scale(values: Iterable[int | Decimal]) -> int:
    """10 to the most decimal places any value has (an amount's smallest unit)."""
    places = 0
    for v in values:
        if isinstance(v, Decimal):
            exponent = v.as_tuple().exponent
            assert isinstance(exponent, int)  # a figure is finite
            places = max(places, -exponent)
    return int(10**places)


def _whole(v: int | Decimal, scale: int) -> int:
    return int(v * scale)
