"""A currency's amounts are hidden by how many people were paid in that currency, and
where one payment dwarfs the rest (the p% rule).

Programmes usually pay in one currency each, so a cell of many people may hold one
paid in another: its amount in that currency is that person's payment, whatever the
cell's people count. Each currency's amounts are suppressed over the month's whole
lattice, so a donor who asks for every slice and solves every line between them
(tables' margins, organisations to all, programmes to all), in rationals or in whole
cents, recovers none paid to fewer than k. The replay ``report verify`` runs and the
gateway's running totals publish the same figures.
"""

from __future__ import annotations

import itertools
import pickle
import random
from collections import defaultdict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pytest
from scipy.optimize import linprog

from ledger_gw.interfaces import Record
from ledger_gw.reports.accountability import (
    Cube,
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
    report_of,
)
from ledger_gw.reports.aggregates import Aggregates
from ledger_gw.reports.lattice import TOTAL
from ledger_gw.reports.suppression import DEFAULT_K, revealing_amounts
from tests.support.whole_numbers import single_whole_values

K = DEFAULT_K
MONTH = "2026-01"
ORGS = ("AGENCY-A", "AGENCY-B")
PROGRAMMES = {"P1": "USD", "P2": "KES", "P3": "USD"}

SliceKey = tuple[str | None, str | None]  # (organisation, programme); None: all
Figure = tuple[SliceKey, str, str, str]  # slice, currency, row, column (TOTAL: margin)


@dataclass(frozen=True)
class Paid:
    """One delivery as the month's ground truth holds it."""

    org: str
    programme: str
    pid: str
    cell: tuple[str, str]
    currency: str
    amount: Decimal


class Month:
    """Records of one month on the lattice, with what each delivery paid to whom."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.paid: list[Paid] = []
        self._n = itertools.count()

    def _record(self, org: str, event: dict[str, Any], when: str) -> None:
        i = next(self._n)
        self.records.append(Record(i, f"tx{i}", when, org, event, {}))

    def pay(
        self, org: str, pid: str, programme: str, cell: tuple[str, str], amounts: list[str]
    ) -> None:
        """Grant ``pid`` an entitlement, then deliver each of ``amounts``."""
        eid = f"E{next(self._n)}"
        currency = PROGRAMMES[programme]
        location, modality = cell
        grant = {
            "type": "entitlement.granted",
            "entitlement_id": eid,
            "pid": pid,
            "programme": programme,
            "assistance_type": "cash",
            "modality": modality,
            "location": location,
            "currency": currency,
            "amount": "2000",
            "start": f"{MONTH}-01",
            "end": f"{MONTH}-28",
        }
        self._record(org, grant, f"{MONTH}-02T12:00:00.000000Z")
        for day, amount in enumerate(amounts, start=10):
            delivery = {
                "type": "assistance.delivered",
                "entitlement_id": eid,
                "amount": amount,
                "currency": currency,
                "date": f"{MONTH}-{day}",
            }
            self._record(org, delivery, f"{MONTH}-{day}T12:00:00.000000Z")
            self.paid.append(Paid(org, programme, pid, cell, currency, Decimal(amount)))

    def closed(self) -> list[Record]:
        """The records, with the first of the next month that closes this one."""
        self._record("AGENCY-A", {"type": "noop"}, "2026-02-01T01:00:00.000000Z")
        return self.records


def _queries() -> Iterator[tuple[SliceKey, ReportQuery]]:
    start, end = month_bounds(MONTH)
    for org in (None, *ORGS):
        for programme in (None, *PROGRAMMES):
            yield (org, programme), ReportQuery(org, programme, start, end, K, on_lattice=True)


def donor_reports(records: list[Record]) -> dict[SliceKey, dict[str, Any]]:
    """Every report a donor may ask for in the month, by the replay ``report verify``
    runs; the gateway's running totals must publish the very same."""
    cube = build_cube(records, K, MONTH)
    replayed = {
        s: compute_report(records, anchor={"size": 1}, query=q, cube=cube) for s, q in _queries()
    }
    folded = Aggregates()
    folded.add(records)
    running: Cube = folded.cube(MONTH, K)
    for s, q in _queries():
        tally = folded.monthly.tally(q, running)
        kept = report_of(tally, anchor={"size": 1}, query=q, cube=running)
        assert kept == replayed[s], s
    return replayed


def _keys(rows: list[str], cols: list[str]) -> Iterator[tuple[str, str]]:
    yield from itertools.product([*rows, TOTAL], [*cols, TOTAL])


def published(reports: dict[SliceKey, dict[str, Any]]) -> dict[Figure, Decimal | None]:
    """Each slice's amounts as a donor reads them (None: hidden)."""
    out: dict[Figure, Decimal | None] = {}
    for s, report in reports.items():
        table = report["tables"]["reached"]
        rows, cols = table["rows"], table["columns"]
        for currency, grid in table["amounts"].items():
            for r, c in _keys(rows, cols):
                if r == TOTAL:
                    v = grid["total"] if c == TOTAL else grid["column_totals"][cols.index(c)]
                elif c == TOTAL:
                    v = grid["row_totals"][rows.index(r)]
                else:
                    v = grid["cells"][rows.index(r)][cols.index(c)]
                out[(s, currency, r, c)] = None if v is None else Decimal(v)
    return out


def truth(paid: list[Paid]) -> tuple[dict[Figure, Decimal], dict[Figure, dict[str, Decimal]]]:
    """Every slice's amounts and what each person was paid of them, cells and margins,
    from the deliveries."""
    amounts: dict[Figure, Decimal] = defaultdict(Decimal)
    people: dict[Figure, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for p in paid:
        for org, programme in itertools.product((None, p.org), (None, p.programme)):
            for r, c in itertools.product((p.cell[0], TOTAL), (p.cell[1], TOTAL)):
                figure = ((org, programme), p.currency, r, c)
                amounts[figure] += p.amount
                people[figure][p.pid] += p.amount
    return amounts, people


def gives_away(payments: dict[str, Decimal]) -> bool:
    """Paid to 1 to k-1 people, or one payment so large that the rest, less the second
    largest, is under a tenth of it: the amount tells it within 10% (the p% rule)."""
    if 0 < len(payments) < K:
        return True
    first, _second, *rest = sorted(payments.values(), reverse=True) + [Decimal(0)] * 2
    return sum(rest) < first / 10


Relation = list[tuple[Hashable, int]]


def relations(figures: set[Figure]) -> list[Relation]:
    """Every exact sum between the amounts of one currency: a table's rows and columns
    with their margins, organisations to all, programmes to all."""
    rows = sorted({f[2] for f in figures} - {TOTAL})
    cols = sorted({f[3] for f in figures} - {TOTAL})
    slices = itertools.product((None, *ORGS), (None, *PROGRAMMES))
    out: list[Relation] = []
    for s, currency in itertools.product(slices, {f[1] for f in figures}):
        for r in [*rows, TOTAL]:
            out.append([*(((s, currency, r, c), 1) for c in cols), ((s, currency, r, TOTAL), -1)])
        for c in [*cols, TOTAL]:
            out.append([*(((s, currency, r, c), 1) for r in rows), ((s, currency, TOTAL, c), -1)])
    for currency in {f[1] for f in figures}:
        for r, c in _keys(rows, cols):
            for programme in (None, *PROGRAMMES):
                line: Relation = [(((o, programme), currency, r, c), 1) for o in ORGS]
                out.append([*line, (((None, programme), currency, r, c), -1)])
            for org in (None, *ORGS):
                line = [(((org, p), currency, r, c), 1) for p in PROGRAMMES]
                out.append([*line, (((org, None), currency, r, c), -1)])
    return out


def pinned_by_lp(
    rels: list[Relation], known: dict[Hashable, Decimal], asked: list[Hashable]
) -> set[Hashable]:
    """Those of ``asked`` whose least and greatest non-negative value agree."""
    unknown = sorted({e for rel in rels for e, _ in rel if e not in known}, key=repr)
    column = {e: i for i, e in enumerate(unknown)}
    matrix, rhs = [], []
    for rel in rels:
        row = np.zeros(len(unknown))
        constant = 0.0
        for e, sign in rel:
            if e in column:
                row[column[e]] += sign
            else:
                constant += sign * float(known[e])
        if row.any():
            matrix.append(row)
            rhs.append(-constant)
    out = set()
    for e in asked:
        goal = np.zeros(len(unknown))
        goal[column[e]] = 1
        ends = [linprog(sign * goal, A_eq=matrix, b_eq=rhs, method="highs") for sign in (1, -1)]
        assert ends[0].status == 0, "the true amounts are a solution"
        if ends[1].status == 0 and abs(ends[0].fun + ends[1].fun) < 1e-6:
            out.add(e)
    return out


def attack(
    shown: dict[Figure, Decimal | None], paid: list[Paid]
) -> tuple[set[Hashable], set[Hashable], set[Figure]]:
    """What a donor recovers of the amounts that give someone's payment away (paid to 1
    to k-1 people, or mostly to one): those an LP pins, those an integer programme (in
    cents) pins, and those published outright."""
    amounts, people = truth(paid)
    for figure, v in shown.items():
        assert v is None or v == amounts.get(figure, 0), figure
    rels = relations(set(amounts) | set(shown))
    # a figure no report shows (no such row, column or currency in the slice) is 0
    every = {cast(Figure, e) for rel in rels for e, _ in rel}
    known: dict[Hashable, Decimal] = {}
    for f in every:
        v = shown[f] if f in shown else Decimal(0)
        if v is not None:
            known[f] = v
    few = {f for f in every if gives_away(people.get(f, {}))}
    asked: list[Hashable] = sorted((f for f in few if f not in known), key=repr)
    by_lp = pinned_by_lp(rels, known, asked)
    by_ip = single_whole_values(rels, {f: int(v * 100) for f, v in known.items()}, asked)
    return by_lp, by_ip, {f for f in few if f in known}


def random_month(seed: int) -> Month:
    """Two organisations, three programmes in two currencies, cells of 0 to 30 people,
    some paid twice, some in two programmes of one organisation."""
    rng = random.Random(seed)
    month = Month()
    locations = ["LB11", "LB12", "LB21"][: rng.choice((2, 3))]
    n = itertools.count()
    for org in ORGS:
        earlier: list[str] = []
        for programme in PROGRAMMES:
            for cell in itertools.product(locations, ("cash", "voucher")):
                for _ in range(rng.choice((0, 1, 3, 8, 12, 20, 30))):
                    if earlier and rng.random() < 0.1:
                        pid = rng.choice(earlier)
                    else:
                        pid = f"p{next(n)}"
                        earlier.append(pid)
                    times = rng.choice((1, 1, 2))
                    month.pay(org, pid, programme, cell, [str(rng.randint(5, 150))] * times)
    return month


def test_one_person_paid_in_a_currency_is_hidden_in_every_slice() -> None:
    """Six people paid in KES and one in USD in one cell: the all-programmes slice
    counts seven, and publishes no USD amount, in any slice, margins included."""
    month = Month()
    month.pay("AGENCY-A", "fatima", "P1", ("LB11", "cash"), ["137.00"])
    for i in range(6):
        month.pay("AGENCY-A", f"k{i}", "P2", ("LB11", "cash"), ["5000"])
    reports = donor_reports(month.closed())
    assert reports[("AGENCY-A", None)]["tables"]["reached"]["people"]["cells"] == [[7]]
    shown = published(reports)
    usd = {f: v for f, v in shown.items() if f[1] == "USD"}
    assert usd
    assert all(v is None for v in usd.values())
    assert (("AGENCY-A", "P2"), "KES", "LB11", "cash") in shown  # the others are reported
    by_lp, by_ip, outright = attack(shown, month.paid)
    assert (by_lp, by_ip, outright) == (set(), set(), set())


def test_one_payment_that_dwarfs_the_rest_is_hidden_in_every_slice() -> None:
    """Four people paid 10 USD and one 1,960 in one cell: five payees, but its 2,000
    tells anyone who knows the standard transfer what she got. Hidden in every slice,
    with the margins it dominates, and no sum of what is published pins it down."""
    month = Month()
    month.pay("AGENCY-A", "fatima", "P1", ("LB11", "cash"), ["1960"])
    for i in range(4):
        month.pay("AGENCY-A", f"s{i}", "P1", ("LB11", "cash"), ["10"])
    for i in range(6):
        month.pay("AGENCY-A", f"v{i}", "P1", ("LB11", "voucher"), ["80"])
        month.pay("AGENCY-B", f"w{i}", "P3", ("LB12", "cash"), ["50"])
    shown = published(donor_reports(month.closed()))
    cell = [v for (s, cur, r, c), v in shown.items() if (cur, r, c) == ("USD", "LB11", "cash")]
    assert len(cell) == 4  # all and AGENCY-A, all programmes and P1
    assert all(v is None for v in cell)
    assert any(v is not None for f, v in shown.items() if f[1] == "USD")
    assert attack(shown, month.paid) == (set(), set(), set())


def test_payments_of_about_the_same_size_are_published() -> None:
    """The p% rule hides only a payment that dwarfs the rest: five of 10 to 50 show."""
    month = Month()
    for i, amount in enumerate(("10", "20", "30", "40", "50")):
        month.pay("AGENCY-A", f"s{i}", "P1", ("LB11", "cash"), [amount])
    shown = published(donor_reports(month.closed()))
    assert shown[(("AGENCY-A", "P1"), "USD", "LB11", "cash")] == Decimal(150)


def test_distinct_payees_count_for_margins() -> None:
    """Two people paid in each of three cells of a row: six (person, cell) pairs, but a
    row total that is the sum of two people's payments."""
    two = {"a": Decimal(10), "b": Decimal(10)}
    five = [{person: Decimal(10) for person in "abcde"}] * 3
    few = revealing_amounts([[two, two, two], five], K)
    assert few.cells == ((True, True, True), (False, False, False))
    assert few.row_totals == (True, False)
    assert few.column_totals == (False, False, False)
    assert not few.total


def test_an_agencys_own_table_hides_an_amount_paid_to_few() -> None:
    """Off the lattice (an agency's own figures, any period) the same rule holds within
    its one table: the cell of seven people publishes no USD amount."""
    month = Month()
    month.pay("AGENCY-A", "fatima", "P1", ("LB11", "cash"), ["137.00"])
    for i in range(6):
        month.pay("AGENCY-A", f"k{i}", "P2", ("LB11", "cash"), ["5000"])
        month.pay("AGENCY-A", f"v{i}", "P1", ("LB12", "cash"), ["80"])
    query = ReportQuery("AGENCY-A", None, f"{MONTH}-01", f"{MONTH}-20", K)
    table = compute_report(month.closed(), anchor={}, query=query)["tables"]["reached"]
    assert table["people"]["cells"] == [[7], [6]]
    usd = table["amounts"]["USD"]
    assert usd["cells"] == [[None], [None]]
    assert usd["column_totals"] == [None]
    assert table["amounts"]["KES"]["cells"] == [["30000"], ["0"]]


@pytest.mark.parametrize("seed", range(8))
def test_no_amount_paid_to_fewer_than_k_follows_from_every_donor_report(seed: int) -> None:
    """An LP and an integer programme over every slice's published amounts pin none
    paid to 1 to k-1 people, and none such is published."""
    month = random_month(seed)
    records = month.closed()
    reports = donor_reports(records)
    shown = published(reports)
    by_lp, by_ip, outright = attack(shown, month.paid)
    assert (by_lp, by_ip, outright) == (set(), set(), set())
    assert any(shown.values())  # amounts paid to many are published


def test_the_attack_recovers_amounts_hidden_where_the_people_are_only() -> None:
    """Control: amounts hidden where the people are, and nowhere else, give some away
    in these months, so the attack above is a real one."""
    leaked = 0
    for seed in range(8):
        month = random_month(seed)
        cube = build_cube(month.closed(), K, MONTH)
        amounts, _ = truth(month.paid)
        shown: dict[Figure, Decimal | None] = {}
        for (s, currency, r, c), v in amounts.items():
            people_hidden = ((MONTH, *s), ("reached", r, c)) in cube.hidden
            shown[(s, currency, r, c)] = None if people_hidden else v
        by_lp, by_ip, outright = attack(shown, month.paid)
        leaked += bool(by_lp | by_ip | outright)
    assert leaked >= 2


def test_totals_saved_under_earlier_rules_are_not_read() -> None:
    """Totals a gateway saved before amounts were hidden by who was paid hold neither
    the payees nor months suppressed by this rule: they are refused, and refolded."""
    folded = Aggregates()
    folded.add(Month().closed())
    assert isinstance(pickle.loads(pickle.dumps(folded)), Aggregates)  # noqa: S301 (our own)
    del folded.rules
    with pytest.raises(ValueError, match="other rules"):
        pickle.loads(pickle.dumps(folded))  # noqa: S301 (our own)
