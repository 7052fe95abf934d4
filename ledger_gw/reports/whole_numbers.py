"""Which hidden counts have a single value once counts are known to be whole numbers.

The equations of a release's lines leave a hidden count open when they have more than
one solution in it; but counts are whole numbers and never negative (amounts too, in
their smallest unit), and an attacker's integer programme uses that. Across a lattice's
many lines it can pin a count that the equations leave open: one solution in whole
numbers, where the equations alone have many. A donor may also take every hidden figure
to be at least 1: suppression hides a zero only as a last resort, so hidden figures are
nearly never 0. The attacker modelled here therefore holds each hidden entry that has a
positive value to 1 or more (one with no figure, or a zero, to 0 or more): the tightest
bounds the true figures meet, so any donor's guess of bounds they meet allows as much.

For each hidden count asked about, the solver (HiGHS, through SciPy) is asked for a
whole solution of every line within those bounds with that count at k or more when it
is below k (else a donor learns that it is small), else one more than it is, then one
less. A solution found is checked here exactly, in integers; it shows that count free,
and every other count it moves as far. When there is none, the count is given away.
Hiding more figures only adds unknowns, so a count once shown free stays free: the
caller keeps those (``free``) from one round of hiding to the next. Counts of distinct
people need not add up (a person in two organisations' figures is one in all's): a line
whose parts exceed its total is taken with that shortfall, as if the donor knew it, so
that the true figures are a solution; a donor who knows less has more. What to hide for
a count given away (:func:`cover`): the published figures that a solution freeing it
moves, as few as may be (each unit a published figure moves costs 1). SciPy is imported
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
# Within this of a whole number, a linear programme's solution is that number (the
# solver's rounding), and a published figure moved less is not moved.
_MOVED = 1e-6


def single_solutions(
    value: Mapping[E, int | Decimal],
    unknown: Collection[E],
    lines: Iterable[tuple[Sequence[E], E]],
    asked: Iterable[E],
    free: set[E],
    k: int = 0,
) -> list[E]:
    """Those of ``asked`` (unknown entries with a value) that the whole solutions of
    ``lines`` give away: one below ``k`` (a count) that none puts at k or more, any
    other that none moves. ``free`` holds the entries shown not given away: they are
    not asked again, and those found here are added."""
    todo = sorted((e for e in asked if e not in free), key=repr)
    if not todo:
        return []
    system = _System.of(value, unknown, lines)
    if system is None or any(abs(system.truth(e)) > _EXACT for e in todo):
        return todo

    def moved(a: E, x: Any) -> bool:
        """Whether solution ``x`` shows ``a`` free: at k or more if below, else changed."""
        truth, found = system.truth(a), int(x[system.column[a]])
        return found >= k if truth < k else found != truth

    given_away = []
    for e in todo:
        if e in free:  # a solution found for an earlier one moved it too
            continue
        for low, high in system.ranges(e, k):
            found = system.solve(e, low, high)
            if found is not None:
                free.update(a for a in todo if moved(a, found))
                break
        else:
            given_away.append(e)
    return given_away


def cover(
    value: Mapping[E, int | Decimal],
    hidden: Collection[E],
    lines: Sequence[tuple[Sequence[E], E]],
    e: E,
    k: int = 0,
) -> set[E] | None:
    """Published entries to hide so that ``e`` is free (at k or more if below k, else
    at another value): those a solution of every line with ``e`` so moves, at the least
    total movement when each unit a published figure moves costs 1, so that few are
    hidden, and none that gives ``e`` no room (none: it is free already). None when no
    solution puts ``e`` so. The caller checks ``e`` again in whole numbers."""
    entries = {x for parts, total in lines for x in (*parts, total)}
    system = _System.of(value, entries, lines)
    if system is None:
        return None
    published = sorted(system.column[x] for x in entries if x in value and x not in hidden)
    names = list(system.column)  # in column order
    found = [
        m
        for low, high in system.ranges(e, k)
        if (m := system.moved(e, low, high, published)) is not None
    ]
    return {names[c] for c in min(found, key=len)} if found else None


@dataclass
class _System:
    """The lines as integer equations over the unknown entries, each with its shortfall:
    ``A x = b``, ``x >= lower`` (1 for an entry with a positive value, else 0)."""

    column: dict[Any, int]
    matrix: Any  # scipy.sparse.csr_array of small integers
    rhs: Any  # numpy int64 array
    lower: Any  # numpy int64 array
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
            known = short = 0  # the published entries' part; how far the parts exceed the total
            for e, sign in [*((p, 1) for p in parts), (total, -1)]:
                signed = sign * _whole(value.get(e, 0), scale)
                short += signed
                if e in column:
                    coefficients[column[e]] = coefficients.get(column[e], 0) + sign
                else:
                    known += signed
            coefficients = {c: v for c, v in coefficients.items() if v}
            if not coefficients:
                continue
            for c, v in coefficients.items():
                rows.append(len(rhs))
                cols.append(c)
                data.append(v)
            rhs.append(max(short, 0) - known)
        if any(abs(b) > _EXACT for b in rhs):
            return None
        matrix = coo_array(
            (np.array(data, dtype=np.int64), (rows, cols)), shape=(len(rhs), len(column))
        ).tocsr()
        lower = np.array([int(value.get(e, 0) > 0) for e in column], dtype=np.int64)
        return cls(column, matrix, np.array(rhs, dtype=np.int64), lower, scale, value)

    def truth(self, e: Any) -> int:
        return _whole(self.value.get(e, 0), self.scale)

    def ranges(self, e: Any, k: int) -> list[tuple[int, int | None]]:
        """Where a solution would show ``e`` free: at k or more when it is below k (a
        smaller value still shows it small), else above it or below it."""
        truth = self.truth(e)
        if truth < k:
            return [(k, None)]
        least = int(self.lower[self.column[e]])
        return [(truth + 1, None)] + ([(least, truth - 1)] if least < truth else [])

    def solve(self, e: Any, low: int, high: int | None) -> Any:
        """A whole solution within the bounds with ``low <= e <= high``, checked exactly;
        None when the solver finds none (or one that does not check)."""
        import numpy as np
        from scipy.optimize import Bounds, LinearConstraint, milp

        lower, upper = self._bounds(e, low, high)
        b = self.rhs.astype(float)
        result = milp(
            np.zeros(len(self.column)),
            constraints=LinearConstraint(self.matrix, b, b),
            integrality=np.ones(len(self.column)),
            bounds=Bounds(lower, upper),
            options={"node_limit": _NODE_LIMIT},
        )
        if result.x is None:
            return None
        x = np.rint(result.x).astype(np.int64)
        i = self.column[e]
        exact = (
            bool((self.matrix @ x == self.rhs).all())
            and bool((x >= self.lower).all())
            and low <= int(x[i])
            and (high is None or int(x[i]) <= high)
        )
        return x if exact else None

    def moved(
        self, e: Any, low: int, high: int | None, published: Sequence[int]
    ) -> set[int] | None:
        """The ``published`` columns that a solution with ``low <= e <= high`` moves, at
        the least total movement; None when the solver finds none. The linear programme
        answers; only when its solution moves none and is not whole (so that hiding
        nothing would not free ``e`` in whole numbers) does the integer programme."""
        import numpy as np
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import bmat, coo_array, identity

        n, m = len(self.column), len(published)
        if not m:
            return set() if self.solve(e, low, high) is not None else None
        lower, upper = self._bounds(e, low, high)
        # the lines; and each published column, less its rise, plus its fall, at its value
        pick = coo_array((np.ones(m), (np.arange(m), np.array(published))), shape=(m, n))
        eye = identity(m, format="coo")
        a = bmat([[self.matrix, None, None], [pick, -eye, eye]])
        truth = np.array([self.truth(name) for name in self.column], dtype=float)
        b = np.concatenate([self.rhs.astype(float), truth[published]])
        x = None
        for whole in (0, 1):
            x = milp(
                np.concatenate([np.zeros(n), np.ones(2 * m)]),
                constraints=LinearConstraint(a, b, b),
                integrality=np.full(n + 2 * m, whole),
                bounds=Bounds(
                    np.concatenate([lower, np.zeros(2 * m)]),
                    np.concatenate([upper, np.full(2 * m, np.inf)]),
                ),
                options={"node_limit": _NODE_LIMIT},
            ).x
            if x is None or (x[n:] > _MOVED).any() or (abs(x - np.rint(x)) <= _MOVED).all():
                break
        if x is None:
            return None
        movement = x[n : n + m] + x[n + m :]
        return {published[int(j)] for j in np.flatnonzero(movement > _MOVED)}

    def _bounds(self, e: Any, low: int, high: int | None) -> tuple[Any, Any]:
        import numpy as np

        lower, upper = self.lower.astype(float), np.full(len(self.column), np.inf)
        i = self.column[e]
        lower[i], upper[i] = low, np.inf if high is None else high
        return lower, upper


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
