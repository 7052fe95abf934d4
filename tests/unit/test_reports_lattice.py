"""A donor's integer programme over a month's lattice: no count below k has one value.

Counts are whole and never negative. Across a lattice's lines (each slice's table with
its margins, each figure along the organisations and along the programmes) that pins
counts the equations leave open: in each of these months, drawn at random, the
equations alone leave counts below k with a single whole solution.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from decimal import Decimal

import pytest

from ledger_gw.reports.lattice import Line, Slice, cross_lines, protect, slices, table_lines
from ledger_gw.reports.suppression import small_counts, suppress, widen
from ledger_gw.reports.whole_numbers import single_solutions
from tests.support.whole_numbers import single_whole_values

K = 5
MONTH = "2026-01"


def _month(
    seed: int, orgs: int, programmes: int, rows: int, cols: int
) -> tuple[dict[Slice, dict[Hashable, int]], list[Line]]:
    """A month's lattice of one table per slice: random counts, many of them small."""
    rng = random.Random(seed)
    org_ids = [f"O{i}" for i in range(orgs)]
    programme_ids = [f"P{i}" for i in range(programmes)]
    row_ids, col_ids = [f"r{i}" for i in range(rows)], [f"c{i}" for i in range(cols)]
    base = {
        (o, p): {
            (r, c): rng.choice([0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 9, 15])
            for r in row_ids
            for c in col_ids
        }
        for o in org_ids
        for p in programme_ids
    }
    figures: dict[Slice, dict[Hashable, int]] = {}
    for s in slices([MONTH], org_ids, programme_ids):
        if s[0] is None:  # no figure spans months
            continue
        cells = {
            cell: sum(
                t[cell] for (o, p), t in base.items() if s[1] in (None, o) and s[2] in (None, p)
            )
            for cell in base[(org_ids[0], programme_ids[0])]
        }
        held: dict[Hashable, int] = {("t", r, c): cells[(r, c)] for r in row_ids for c in col_ids}
        for r in row_ids:
            held[("t", r, "*")] = sum(cells[(r, c)] for c in col_ids)
        for c in col_ids:
            held[("t", "*", c)] = sum(cells[(r, c)] for r in row_ids)
        held[("t", "*", "*")] = sum(cells.values())
        figures[s] = held
    lines = [line for s in figures for line in table_lines(s, "t", row_ids, col_ids)]
    return figures, lines + cross_lines(figures)


@pytest.mark.parametrize(
    ("seed", "shape"), [(189, (3, 4, 3, 2)), (45, (3, 3, 3, 3)), (27, (4, 3, 3, 3))]
)
def test_no_count_below_k_has_a_single_whole_value(seed: int, shape: tuple[int, ...]) -> None:
    figures, lines = _month(seed, *shape)
    value = {(s, key): v for s, held in figures.items() for key, v in held.items()}
    small = sorted((e for e, v in value.items() if 0 < v < K), key=repr)
    hidden = protect(figures, lines, K)
    assert set(small) <= hidden
    assert len(hidden) < len(value) * 3 / 4  # a quarter of the month or more is published
    published = {e: v for e, v in value.items() if e not in hidden}
    relations = [[*((e, 1) for e in parts), (total, -1)] for parts, total in lines]
    assert single_whole_values(relations, published, small) == set()


def test_amounts_are_whole_in_their_smallest_unit() -> None:
    """An amount hidden beside another on its line is free by a cent; beside a published
    zero, it is not."""
    value = {"a": Decimal("1.50"), "b": Decimal("2.25"), "t": Decimal("3.75")}
    value |= {"u": Decimal("1.50"), "z": Decimal("0")}
    free: set[str] = set()
    assert single_solutions(value, {"a", "b"}, [(["a", "b"], "t")], ["a"], free) == []
    assert free == {"a"}
    assert single_solutions(value, {"a"}, [(["a", "z"], "u")], ["a"], set()) == ["a"]


def test_figures_beyond_what_the_solver_reads_exactly_are_hidden_not_misjudged() -> None:
    """A double holds every whole number up to 2**53 only: beyond, what was asked counts
    as given away, and a table of such amounts is suppressed, not refused."""
    value = {"a": 3, "b": 2**60, "t": 2**60 + 3}
    assert single_solutions(value, {"a", "b"}, [(["a", "b"], "t")], ["a"], set()) == ["a"]
    people = [[3, 8], [7, 9]]
    mask = suppress(people, K)
    # beyond 2**53 in ten-thousandths; then beyond a 64-bit integer's range
    for large in ("999999999999.9999", "999999999999999.9000"):
        amounts = [[Decimal(large), Decimal("12.50")], [Decimal("3"), Decimal("4")]]
        widened = widen(mask, amounts, small_counts(people, K))
        assert widened.cells[0][0]
