"""Whether the published figures give a hidden count away, and more hiding until none do.

Published figures are tied by lines: a line's parts add up to its total (a table's row
and its row total, a column and its column total, a figure across organisations and
its all-organisations figure). Each line is an equation; the published values are
known, the hidden ones unknown. A hidden value is given away when these equations
leave it only one possible value. "Every line hides none or at least two" does not
rule that out: the hidden cells of a row may each be pinned down through their
columns (hidden cells that form a tree, not a cycle).

So this module solves the equations, exactly (rational Gaussian elimination over the
hidden values only), after taking as known the hidden values that non-negativity pins
to zero (the parts of a line whose published figures already make up its total), and
while a sensitive value is determined it hides one more figure beside it: the total
that pins it, else the smallest non-zero published figure on one of its lines (a
published zero pins its partners down), else further along the hidden ones. This rules
out recovery by arithmetic on what one release publishes.

Counts are also whole and never negative, which the equations do not know: across a
lattice's many lines, a count the equations leave open may have a single whole value,
all the more so to a donor who takes hidden figures to be at least 1 (as they nearly
always are). Once the equations pin none, each sensitive value is put to an integer
programme (:mod:`ledger_gw.reports.whole_numbers`). One it gives away (a count below k
that cannot be k or more, any other with a single whole value) gets hidden the published
figures that a whole solution freeing it moves, as few as may be (else the nearest
published figure), one at a time, until none is given away. What is not bounded is how
wide a hidden count's range is above k, or below a sensitive figure of k or more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from ledger_gw.reports import whole_numbers

E = TypeVar("E", bound=Hashable)  # an entry: one published (or hidden) figure
Line = tuple[Sequence[E], E]  # (parts, total)
Number = int | Decimal  # a count, or an amount of money


Rational = int | Fraction  # exact; an int while it is whole, which is most of the time


def _quotient(a: Rational, b: Rational) -> Rational:
    """a / b, exactly: an int when it is whole (int arithmetic is many times faster)."""
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    q = Fraction(a) / b
    return q.numerator if q.denominator == 1 else q


def determined(hidden: Collection[E], lines: Iterable[Line[E]]) -> set[E]:
    """The hidden entries whose value the published ones fix."""
    column = {e: i for i, e in enumerate(sorted(hidden, key=repr))}
    pivots: dict[int, dict[int, Rational]] = {}  # reduced rows, each by its pivot column
    for parts, total in lines:
        row: dict[int, Rational] = defaultdict(int)
        for e in parts:
            if e in column:
                row[column[e]] += 1
        if total in column:
            row[column[total]] -= 1
        for c in [c for c in row if c in pivots]:  # reduce by the pivots so far
            factor = row[c]
            for cc, v in pivots[c].items():
                row[cc] -= factor * v
        kept = {c: v for c, v in row.items() if v}
        if not kept:
            continue
        pivot = min(kept)
        new = {c: _quotient(v, kept[pivot]) for c, v in kept.items()}
        for other in pivots.values():  # keep every row free of the other pivots
            factor = other.get(pivot, 0)
            if factor:
                for c, v in new.items():
                    other[c] = other.get(c, 0) - factor * v
                    if not other[c]:
                        del other[c]
        pivots[pivot] = new
    names = list(column)  # in column order
    return {names[c] for c, reduced in pivots.items() if len(reduced) == 1}


def pinned(value: Mapping[E, Number], hidden: set[E], lines: Sequence[Line[E]]) -> dict[E, E]:
    """The hidden entries that non-negativity pins to zero, each with the total that
    pins it: the parts of a line whose published total its published parts already
    make up (a currency's column total of 0, say, beside hidden cells). A pinned entry
    is then known, which may pin more."""
    out: dict[E, E] = {}
    changed = True
    while changed:
        changed = False
        for parts, total in lines:
            if (total in hidden and total not in out) or total not in value:
                continue
            unknown = [e for e in parts if (e in hidden and e not in out) or e not in value]
            known = sum((value.get(e, 0) for e in parts if e not in unknown), Decimal(0))
            if unknown and known == value[total]:
                for e in unknown:
                    if e in hidden and e not in out:
                        out[e] = total
                        changed = True
    return out


def complete(
    value: Mapping[E, Number],
    hidden: set[E],
    lines: Sequence[Line[E]],
    sensitive: Collection[E],
    k: int = 0,
) -> set[E]:
    """``hidden``, with more entries hidden until no ``sensitive`` one is determined, nor
    (counts, with ``k``) known to be below k."""
    hidden = set(hidden)
    on: dict[E, list[Line[E]]] = defaultdict(list)
    for line in lines:
        for e in (*line[0], line[1]):
            on[e].append(line)
    unpublished = {e for e in on if e not in value}  # on a line, and no figure: unknown
    free: set[E] = set()  # sensitive entries a whole-number solution moves: they stay free
    while True:
        zeros = pinned(value, hidden, lines)
        unknown = (hidden | unpublished) - set(zeros)
        solved = determined(unknown, _touching(unknown, on)) | set(zeros)
        exposed = sorted((e for e in solved if e in sensitive), key=repr)
        if exposed:
            # One at a time: a figure hidden for one often covers others too. A pinned
            # entry gets the total that pins it hidden, any other the nearest published.
            added = next((c for e in exposed if (c := _cover(e, zeros, value, hidden, on))), None)
            if added is None:  # nothing is left to hide
                return hidden
            hidden.add(added)
            continue
        # The equations leave every sensitive entry open; whole numbers may not. Those
        # given away are covered one at a time too: a cover often frees others.
        unknown = hidden | unpublished
        asked = [e for e in sensitive if e in hidden]
        pinned_down = whole_numbers.single_solutions(
            value, unknown, _touching(unknown, on), asked, free, k
        )
        for e in pinned_down:
            found = whole_numbers.cover(value, hidden, lines, e, k)
            if found is None:  # no whole solution frees it: the nearest, as above
                c = _complement(e, value, hidden, on)
                found = set() if c is None else {c}
            if found - hidden:
                hidden |= found
                break
        else:  # nothing is left to hide
            return hidden


def _cover(
    e: E,
    zeros: Mapping[E, E],
    value: Mapping[E, Number],
    hidden: set[E],
    on: Mapping[E, list[Line[E]]],
) -> E | None:
    total = zeros.get(e)
    if total is not None and total not in hidden:
        return total
    return _complement(e, value, hidden, on)


def _touching(hidden: set[E], on: Mapping[E, list[Line[E]]]) -> list[Line[E]]:
    """The lines with a hidden entry (the others are published whole: no equation)."""
    seen: dict[int, Line[E]] = {}
    for e in hidden:
        for line in on.get(e, ()):
            seen.setdefault(id(line), line)
    return list(seen.values())


def _complement(
    start: E, value: Mapping[E, Number], hidden: set[E], on: Mapping[E, list[Line[E]]]
) -> E | None:
    """The published entry to hide beside ``start``: on its lines if any is published,
    else on the lines of the hidden entries it is tied to, nearest first."""
    frontier, seen = [start], {start}
    while frontier:
        near = {e for h in frontier for line in on.get(h, ()) for e in (*line[0], line[1])}
        published = [e for e in near if e not in hidden and e in value]
        if published:
            positive = [e for e in published if value[e] > 0]
            return min(positive or published, key=lambda e: (value[e], repr(e)))
        frontier = sorted(near - seen, key=repr)
        seen |= near
    return None
