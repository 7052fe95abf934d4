"""Suppression that holds across every report a donor may ask for, not only within one.

A donor may ask for any slice of a fixed lattice: one organisation or all, one
programme or all, within a closed calendar month (:mod:`ledger_gw.reports.release`).
The slices are related by addition (the organisations add up to all, the programmes
to all), so a count hidden in one slice could be the difference of figures published
in others.
Every figure is therefore placed on *lines*: within a slice, a table's row with its
row total, a column with its column total; across slices, the same figure along one
dimension with the dimension's total. Primary suppression hides every count from 1 to
k-1; then a line with exactly one hidden entry gets a second one (the smallest
non-zero part, else the total), until nothing changes. The pattern is a function of
the whole lattice, so every slice reads its part of one and the same pattern. Each
currency's amounts lie on the same lines (they add up exactly along both dimensions) in
a lattice of their own, where what is sensitive is an amount paid to 1 to k-1 people,
whatever its size.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence

from ledger_gw.reports import disclosure
from ledger_gw.reports.disclosure import Number

#: A slice of the lattice: (month "YYYY-MM" or None, organisation or None, programme or None).
Slice = tuple[str | None, str | None, str | None]
#: One figure of one slice: the slice, then the figure's own key.
Entry = tuple[Slice, Hashable]
Line = tuple[Sequence[Entry], Entry]  # (parts, total)

TOTAL = "*"  # the row or column total of a table, in a figure's key


def slices(months: Iterable[str], orgs: Iterable[str], programmes: Iterable[str]) -> list[Slice]:
    """Every slice of the lattice, the "all" coordinate (None) included."""
    return list(
        itertools.product(
            [None, *sorted(months)], [None, *sorted(orgs)], [None, *sorted(programmes)]
        )
    )


def cross_lines(
    figures: Mapping[Slice, Mapping[Hashable, Number]], absent_zero: bool = False
) -> list[Line]:
    """Each figure along each dimension, its parts with the dimension's total. With
    ``absent_zero``, a part that does not hold the figure is left out: its report
    shows no such row, column or currency, so a donor knows it is 0 (hiding it could
    not keep it from her)."""
    lines: list[Line] = []
    for dim in range(3):
        groups: dict[Slice, list[Slice]] = defaultdict(list)
        for s in figures:
            if s[dim] is not None:
                total = (*s[:dim], None, *s[dim + 1 :])
                groups[total].append(s)  # type: ignore[index]
        for total, parts in groups.items():
            if total not in figures:  # a dimension fixed for the whole lattice
                continue
            keys = set(figures[total]).union(*(figures[p] for p in parts))
            for key in sorted(keys, key=repr):
                held = [p for p in parts if not absent_zero or key in figures[p]]
                lines.append(([(p, key) for p in held], (total, key)))
    return lines


def table_lines(s: Slice, name: Hashable, rows: Sequence[str], cols: Sequence[str]) -> list[Line]:
    """The lines of one two-way table with its margins, keyed ``(name, row, column)``."""
    lines: list[Line] = []
    for r in [*rows, TOTAL]:
        lines.append(([(s, (name, r, c)) for c in cols], (s, (name, r, TOTAL))))
    for c in [*cols, TOTAL]:
        lines.append(([(s, (name, r, c)) for r in rows], (s, (name, TOTAL, c))))
    return lines


def shortfall(figures: Mapping[Slice, Mapping[Hashable, Number]], line: Line) -> Number:
    """How much a line's parts add up to beyond its total: 0 where the figures add up;
    where they count distinct people, those counted in two parts or more."""
    parts, (s, key) = line
    return sum((figures[p].get(q, 0) for p, q in parts), 0) - figures[s].get(key, 0)


def protect(
    figures: Mapping[Slice, Mapping[Hashable, Number]],
    lines: Iterable[Line],
    k: int,
    sensitive: Collection[Entry] | None = None,
    hidden: Iterable[Entry] = (),
    counts: bool = True,
) -> set[Entry]:
    """The hidden entries: the ``sensitive`` ones (by default the counts below k) and
    those already ``hidden``, then one more on every line with only one, then more until
    the published figures determine no sensitive one, nor that a count is below k
    (reports.disclosure). Amounts pass their own, and not ``counts``: an amount is
    sensitive by how many people it was paid to, not its size."""
    value = {(s, key): v for s, held in figures.items() for key, v in held.items()}
    small = {e for e, v in value.items() if 0 < v < k} if sensitive is None else set(sensitive)
    hidden = small | set(hidden)
    lines = list(lines)
    changed = True
    while changed:
        changed = False
        for parts, total in lines:
            if sum(e in hidden for e in (*parts, total)) != 1:
                continue
            candidates = sorted(
                (value[e], repr(e), e) for e in parts if e not in hidden and value.get(e, 0) > 0
            )
            if candidates:
                hidden.add(candidates[0][2])
            elif total not in hidden:
                hidden.add(total)
            else:  # only zero parts beside a hidden total: hide a published zero
                zeros = sorted((repr(e), e) for e in parts if e in value and e not in hidden)
                if not zeros:
                    continue
                hidden.add(zeros[0][1])
            changed = True
    # Two hidden per line is not enough when hidden entries form a tree: solve for them.
    return disclosure.complete(value, hidden, lines, small, k if counts else 0)
