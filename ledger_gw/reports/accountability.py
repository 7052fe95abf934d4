"""Donor accountability figures, computed by replaying the log up to an anchor.

Each record carries the signed event and the contract's result, so these figures
depend on nothing but the log prefix named in ``anchor`` (a checkpoint's origin,
tree size and root on the embedded log; the channel, height and head block hash on
Fabric): anyone holding the ledger recomputes them (:func:`compute_report`) and gets
the same JSON. No
pseudonym, event ID or date finer than the period leaves this module: figures are
counts, sums and a median, and every count of people below ``k`` is suppressed
(:mod:`ledger_gw.reports.suppression`), as is every amount paid to fewer than ``k``
people in its currency (a cell of many people may hold one paid in another currency),
or so much of it to one person that it tells her payment (the p% rule).

Choices: the organisation is the one that *signed* (granted, delivered, referred);
referrals carry no programme, so a programme filter leaves them unfiltered;
a delivery's location is its own, else its entitlement's, cut to ``location_chars``
characters of the P-code (admin 1 by default) so no cell is finer than that.
Table cells count (person, cell) pairs, so margins add up exactly, which is what
complementary suppression needs; counts of distinct people (the people assisted, and
every people figure of all organisations or all programmes) need not add up, and one
that falls 1 to k-1 short of its parts is hidden like a count below k.

A query ``on_lattice`` (what donors get) names a slice of a fixed lattice (an
organisation or all, a programme or all, in one closed calendar month) and is
suppressed with the whole lattice (:mod:`ledger_gw.reports.lattice`), each currency's
amounts on a lattice of their own, so that no hidden figure is a difference of figures
published in any reports a donor may ask for; the month is counted by the time the
ledger logged its events, on the records of its own closing
(:mod:`ledger_gw.reports.release`), so its release never changes.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, TypeVar, cast

from chaincode.fields import format_amount
from ledger_gw.errors import IntegrityError
from ledger_gw.interfaces import Record, VerifiableLog
from ledger_gw.reports import lattice, release
from ledger_gw.reports.lattice import TOTAL, Entry, Slice
from ledger_gw.reports.overlaps import flagged, named
from ledger_gw.reports.suppression import (
    DEFAULT_K,
    Suppressed,
    either,
    revealing_amounts,
    small_counts,
    suppress,
    widen,
)
from ledger_gw.transaction import parse_time

N = TypeVar("N", int, Decimal)  # a count or an amount
REPORT_FORMAT = "ledger-gw/accountability-report/v1"
REFERRAL_STATES = ("open", "accepted", "completed", "declined", "cancelled")
UNKNOWN_LOCATION = "UNKNOWN"


class ReportError(IntegrityError):
    """A report cannot be computed, or does not verify."""

    code = "report_error"


class PeriodNotClosedError(ReportError):
    """A donor's month is not closed on the ledger yet."""

    code = "period_not_closed"


@dataclass(frozen=True)
class ReportQuery:
    """Whose figures, for which programme and period, with which k."""

    org: str | None = None
    programme: str | None = None
    start: str | None = None  # YYYY-MM-DD, inclusive
    end: str | None = None  # YYYY-MM-DD, inclusive
    k: int = DEFAULT_K
    location_chars: int = 4
    on_lattice: bool = False  # a donor's slice: a closed calendar month

    def slice(self) -> Slice:
        """The lattice slice this query names; ValueError when its period is not one."""
        month = None if self.start is None else self.start[:7]
        if month is None or (self.start, self.end) != month_bounds(month):
            raise ValueError("the period is not a calendar month")
        return (month, self.org, self.programme)

    def as_dict(self) -> dict[str, Any]:
        """As reports carry it (``on_lattice`` only when set, as older reports lack it)."""
        out = asdict(self)
        if not self.on_lattice:
            del out["on_lattice"]
        return out

    def every_overlap(self) -> bool:
        """Whether a grant counts as a possible duplicate of every open grant it overlaps
        (donors' months, all organisations' figures), or only of those the contract named
        to its granter: one organisation's own figures, of any period at any checkpoint,
        would otherwise tell it of others' grants to her that the contract keeps from it
        (:mod:`ledger_gw.reports.overlaps`)."""
        return self.on_lattice or self.org is None

    def in_period(self, day: str) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


def month_bounds(month: str | None) -> tuple[str | None, str | None]:
    """The first and last day of a ``YYYY-MM`` month; (None, None) for all time."""
    if month is None:
        return None, None
    first = dt.date.fromisoformat(f"{month}-01")
    following = (first + dt.timedelta(days=31)).replace(day=1)
    return first.isoformat(), (following - dt.timedelta(days=1)).isoformat()


@dataclass
class _Ent:
    org: str
    pid: str
    programme: str
    modality: str
    location: str | None
    state: str = "active"


@dataclass
class _Ref:
    org: str
    pid: str
    sector: str
    created: dt.datetime
    state: str = "open"
    accepted: bool = False
    completed: dt.datetime | None = None

    def step(self, step: str, when: dt.datetime) -> None:
        """A referral event's step (accepted, declined, completed...) taken at `when`."""
        self.state = step
        self.accepted |= step == "accepted"
        if step == "completed":
            self.completed = when


class _Tally:
    def __init__(self, query: ReportQuery) -> None:
        self.q = query
        self.ents: dict[str, _Ent] = {}
        self.refs: dict[str, _Ref] = {}
        self.people: set[str] = set()
        self.reached: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.deliveries: dict[tuple[str, str], int] = defaultdict(int)
        self.amounts: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        # what each person was paid, by cell and currency
        self.paid: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(dict)
        self.granted = self.revoked = 0
        self.flagged: set[str] = set()
        self.duplicates_of: dict[str, list[str]] = {}

    def mine(self, org: str) -> bool:
        return self.q.org is None or org == self.q.org

    def add(self, record: Record, duplicates: Sequence[str] = ()) -> None:
        """Count one record; ``duplicates``, for a grant, the open grants it overlaps
        that this report counts (:mod:`ledger_gw.reports.overlaps`)."""
        e = record.event
        if not e:
            return
        org, kind, day = record.org, str(e.get("type")), record.timestamp[:10]
        when = parse_time(record.timestamp)
        if kind == "entitlement.granted":
            self._grant(e, org, day, duplicates)
        elif kind == "assistance.delivered":
            # on the lattice, by when the ledger logged it: a closed month stays closed
            self._deliver(e, day if self.q.on_lattice else str(e["date"]))
        elif kind.startswith("entitlement."):
            ent = self.ents.get(str(e["entitlement_id"]))
            if ent is not None:
                ent.state = kind.split(".", 1)[1]
                if kind == "entitlement.revoked" and self._counts(ent) and self.q.in_period(day):
                    self.revoked += 1
        elif kind == "referral.created":
            self.refs[str(e["referral_id"])] = _Ref(org, str(e["pid"]), str(e["sector"]), when)
        elif kind.startswith("referral."):
            self._referral_step(str(e["referral_id"]), kind.split(".", 1)[1], when)

    def _counts(self, ent: _Ent) -> bool:
        return self.mine(ent.org) and self.q.programme in (None, ent.programme)

    def _grant(self, e: dict[str, Any], org: str, day: str, duplicates: Sequence[str]) -> None:
        eid = str(e["entitlement_id"])
        ent = _Ent(org, str(e["pid"]), str(e["programme"]), str(e["modality"]), e.get("location"))
        self.ents[eid] = ent
        if self._counts(ent) and self.q.in_period(day):
            self.granted += 1
            if duplicates:
                self.flagged.add(eid)
                self.duplicates_of[eid] = list(duplicates)

    def _deliver(self, e: dict[str, Any], day: str) -> None:
        ent = self.ents.get(str(e["entitlement_id"]))
        if ent is None or not self._counts(ent) or not self.q.in_period(day):
            return
        where = e.get("location") or ent.location or UNKNOWN_LOCATION
        cell = (str(where)[: self.q.location_chars], ent.modality)
        self.people.add(ent.pid)
        self.reached[cell].add(ent.pid)
        self.deliveries[cell] += 1
        amount, key = Decimal(str(e["amount"])), (*cell, str(e["currency"]))
        self.amounts[key] += amount
        add_payment(self.paid[key], ent.pid, amount)

    def _referral_step(self, rid: str, step: str, when: dt.datetime) -> None:
        ref = self.refs.get(rid)
        if ref is not None:
            ref.step(step, when)

    def resolved(self) -> int:
        closed = {"revoked", "closed"}
        return sum(
            1
            for eid in self.flagged
            if self.ents[eid].state in closed
            or any(
                d in self.ents and self.ents[d].state in closed
                for d in self.duplicates_of.get(eid, [])
            )
        )


def _hide(value: int, hidden: bool) -> int | None:
    return None if hidden else value


def _reached_counts(t: _Tally) -> tuple[list[str], list[str], list[list[int]]]:
    rows = sorted({r for r, _ in t.reached})
    cols = sorted({c for _, c in t.reached})
    return rows, cols, [[len(t.reached.get((r, c), set())) for c in cols] for r in rows]


def _currencies(t: _Tally) -> list[str]:
    return sorted({cur for _, _, cur in t.amounts})


def _amount_grid(t: _Tally, rows: list[str], cols: list[str], cur: str) -> list[list[Decimal]]:
    return [[t.amounts.get((r, c, cur), Decimal(0)) for c in cols] for r in rows]


def add_payment(payments: dict[str, Decimal], person: str, amount: Decimal) -> None:
    payments[person] = payments.get(person, Decimal(0)) + amount


def _revealing_amounts(t: _Tally, rows: list[str], cols: list[str], cur: str, k: int) -> Suppressed:
    """Where an amount in ``cur`` gives away someone's payment: paid to few, or mostly
    to one (:func:`ledger_gw.reports.suppression.revealing_amounts`)."""
    return revealing_amounts([[t.paid.get((r, c, cur), {}) for c in cols] for r in rows], k)


def _reached_table(
    t: _Tally,
    k: int,
    mask: Suppressed | None = None,
    amount_masks: dict[str, Suppressed] | None = None,
) -> dict[str, Any]:
    """The people, deliveries and amounts per cell; ``mask`` (the people's) and
    ``amount_masks`` (each currency's) are the lattice's, else computed for this table
    alone: a currency's amount is hidden where the people are, and where it was paid
    to fewer than k people (a cell of many people may hold one paid in that currency)."""
    rows, cols, people = _reached_counts(t)
    if mask is None:
        mask = suppress(people, k) if rows else suppress([[0]], k)

    def shaped(values: list[list[Any]], zero: Any, fmt: Any, mask: Suppressed) -> dict[str, Any]:
        row_tot = [sum(row, zero) for row in values]
        col_tot = [sum((values[r][c] for r in range(len(rows))), zero) for c in range(len(cols))]
        return {
            "cells": [
                [None if mask.cells[r][c] else fmt(values[r][c]) for c in range(len(cols))]
                for r in range(len(rows))
            ],
            "row_totals": [None if mask.row_totals[r] else fmt(v) for r, v in enumerate(row_tot)],
            "column_totals": [
                None if mask.column_totals[c] else fmt(v) for c, v in enumerate(col_tot)
            ],
            "total": None if mask.total else fmt(sum(row_tot, zero)),
        }

    small = small_counts(people, k) if rows else mask
    deliveries = [[t.deliveries.get((r, c), 0) for c in cols] for r in rows]
    amounts = {cur: _amount_grid(t, rows, cols, cur) for cur in _currencies(t)}
    if amount_masks is None:
        amount_masks = {}
        for cur, grid in amounts.items():
            few = _revealing_amounts(t, rows, cols, cur, k)
            amount_masks[cur] = widen(either(mask, few), grid, either(small, few))
    return {
        "rows": rows,
        "columns": cols,
        "row_label": "location",
        "column_label": "modality",
        "people": shaped(people, 0, int, mask),
        "deliveries": shaped(deliveries, 0, int, mask),
        "amounts": {
            cur: shaped(grid, Decimal(0), format_amount, amount_masks[cur])
            for cur, grid in amounts.items()
        },
    }


def _referral_counts(t: _Tally) -> tuple[list[str], list[str], list[list[int]], list[_Ref]]:
    mine = [
        r for r in t.refs.values() if t.mine(r.org) and t.q.in_period(r.created.date().isoformat())
    ]
    rows = sorted({r.sector for r in mine})
    cols = list(REFERRAL_STATES)
    counts = [[sum(1 for r in mine if r.sector == s and r.state == c) for c in cols] for s in rows]
    return rows, cols, counts, mine


def _referral_table(
    t: _Tally, k: int, mask: Suppressed | None = None
) -> tuple[dict[str, Any], list[_Ref]]:
    rows, cols, counts, mine = _referral_counts(t)
    if mask is None:
        mask = suppress(counts, k) if rows else suppress([[0] * len(cols)], k)
    table = {
        "rows": rows,
        "columns": cols,
        "row_label": "sector",
        "column_label": "state",
        "referrals": {
            "cells": [
                [_hide(counts[r][c], mask.cells[r][c]) for c in range(len(cols))]
                for r in range(len(rows))
            ],
            "row_totals": [_hide(sum(row), mask.row_totals[r]) for r, row in enumerate(counts)],
            "column_totals": [
                _hide(sum(counts[r][c] for r in range(len(rows))), mask.column_totals[c])
                for c in range(len(cols))
            ],
            "total": _hide(sum(map(sum, counts)), mask.total),
        },
    }
    return table, mine


def _median_days(refs: list[_Ref]) -> str:
    days = [(r.completed - r.created).total_seconds() / 86400 for r in refs if r.completed]
    return format_amount(Decimal(str(round(statistics.median(days), 1))))


# Summary counts of their own (not a table's total), and those that are referrals' (which
# a programme does not filter, so they belong to the programme-wide slice).
_OWN = (
    "entitlements_granted",
    "entitlements_revoked",
    "duplicates_flagged",
    "duplicates_resolved",
    "referrals_accepted",
)
_REFERRAL_FIGURES = ("referrals", "referrals_accepted", "referrals_cancelled_accepted")
# The summary figures the lattice protects: those counts, and the people assisted (a
# count of distinct people, which no table's margin is, but which a donor could take
# for one and subtract across organisations or programmes).
_ON_LATTICE = (*_OWN, "people_assisted")


def _own_counts(t: _Tally, refs: list[_Ref]) -> dict[str, int]:
    return {
        "entitlements_granted": t.granted,
        "entitlements_revoked": t.revoked,
        "duplicates_flagged": len(t.flagged),
        "duplicates_resolved": t.resolved(),
        "referrals_accepted": sum(1 for r in refs if r.accepted or r.state == "completed"),
        "referrals_completed": sum(1 for r in refs if r.state == "completed"),
        # in no report, but the accepted less the accepted and completed columns in each
        "referrals_cancelled_accepted": sum(
            1 for r in refs if r.accepted and r.state == "cancelled"
        ),
    }


def _table_figures(
    name: Hashable, rows: list[str], cols: list[str], counts: Sequence[Sequence[N]]
) -> dict[Hashable, N]:
    out: dict[Hashable, N] = {}
    for r, row in zip(rows, counts, strict=True):
        out.update({(name, r, c): v for c, v in zip(cols, row, strict=True)})
        out[(name, r, TOTAL)] = _sum(row)
    for i, c in enumerate(cols):
        out[(name, TOTAL, c)] = _sum(row[i] for row in counts)
    out[(name, TOTAL, TOTAL)] = _sum(out[(name, r, TOTAL)] for r in rows)
    return out


def _sum(values: Iterable[N]) -> N:
    total: Any = 0
    for v in values:
        total += v
    return cast(N, total)


@dataclass
class Cube:
    """Every slice of the lattice over one log prefix, and the one suppression pattern."""

    tallies: dict[Slice, _Tally]
    hidden: set[Entry] = field(default_factory=set)

    def mask(self, s: Slice, name: Hashable, rows: list[str], cols: list[str]) -> Suppressed:
        if name in _REFERRAL_FIGURES:
            s = (s[0], s[1], None)
        h = self.hidden
        return Suppressed(
            tuple(tuple((s, (name, r, c)) in h for c in cols) for r in rows),
            tuple((s, (name, r, TOTAL)) in h for r in rows),
            tuple((s, (name, TOTAL, c)) in h for c in cols),
            (s, (name, TOTAL, TOTAL)) in h,
        )

    def hides(self, s: Slice, name: str) -> bool:
        if name in _REFERRAL_FIGURES:
            s = (s[0], s[1], None)
        return (s, name) in self.hidden


def month_records(records: Iterable[Record], month: str) -> list[Record]:
    """The records a closed month's release counts; ReportError while it is open."""
    try:
        return release.closing_records(records, month)
    except release.PeriodOpenError as exc:
        raise PeriodNotClosedError(str(exc)) from None


def build_cube(records: Iterable[Record], k: int, month: str, location_chars: int = 4) -> Cube:
    """Tally every slice of one closed month's lattice, then suppress it as one."""
    logged = list(records)
    flags = flagged(logged)
    records = month_records(logged, month)
    orgs, programmes = set(), set()
    for record in records:
        e = record.event
        if not e:
            continue
        orgs.add(record.org)
        if e.get("type") == "entitlement.granted":
            programmes.add(str(e["programme"]))
    cube = Cube({})
    for s in lattice.slices([month], orgs, programmes):
        if s[0] is not None:  # no figure spans months
            cube.tallies[s] = _Tally(slice_query(s, k, location_chars))
    for record in records:
        duplicates = flags.get(record.position, ())
        for tally in cube.tallies.values():
            tally.add(record, duplicates)
    return suppress_cube(cube, k)


def slice_query(s: Slice, k: int, location_chars: int) -> ReportQuery:
    """The donor's query that names slice ``s``."""
    start, end = month_bounds(s[0])
    return ReportQuery(s[1], s[2], start, end, k, location_chars, on_lattice=True)


def suppress_cube(cube: Cube, k: int) -> Cube:
    """The cube with the lattice's one suppression pattern over its tallies."""
    figures: dict[Slice, dict[Hashable, int]] = {}
    lines: list[lattice.Line] = []
    assisted: list[lattice.Line] = []
    for s, t in cube.tallies.items():
        rows, cols, people = _reached_counts(t)
        held = _table_figures("reached", rows, cols, people)
        held["people_assisted"] = len(t.people)
        lines += lattice.table_lines(s, "reached", rows, cols)
        # a person counts once per cell in the table's total, once in the people assisted
        assisted.append(([(s, ("reached", TOTAL, TOTAL))], (s, "people_assisted")))
        sectors, states, counts, refs = _referral_counts(t)
        own = _own_counts(t, refs)
        held.update({n: v for n, v in own.items() if n not in _REFERRAL_FIGURES})
        if s[2] is None:  # referrals: in the programme-wide slice only
            held.update(_table_figures("referrals", sectors, states, counts))
            held.update({n: v for n, v in own.items() if n in _REFERRAL_FIGURES})
            lines += lattice.table_lines(s, "referrals", sectors, states)
            # Those accepted: the accepted and completed columns, and the ones cancelled
            # after acceptance, which the table does not tell apart: a count no report
            # shows, which a donor still finds by subtraction, so protected as any other.
            accepted: list[Entry] = [
                (s, ("referrals", lattice.TOTAL, c)) for c in ("accepted", "completed")
            ]
            accepted.append((s, "referrals_cancelled_accepted"))
            lines.append((accepted, (s, "referrals_accepted")))
        figures[s] = held
    cross = lattice.cross_lines(figures)
    # where no one is in two cells the people assisted are the table's total: one line
    lines += cross + [a for a in assisted if lattice.shortfall(figures, a) == 0]
    small = {(s, key) for s, held in figures.items() for key, v in held.items() if 0 < v < k}
    overlaps = _overlaps(figures, [*assisted, *cross], k)
    cube.hidden = lattice.protect(figures, lines, k, sensitive=small | overlaps)
    for cur in sorted({cur for t in cube.tallies.values() for cur in _currencies(t)}):
        cube.hidden |= _protect_amounts(cube, cur, k)
    return cube


def _overlaps(
    figures: Mapping[Slice, Mapping[Hashable, int]], lines: Iterable[lattice.Line], k: int
) -> set[Entry]:
    """The people figures 1 to k-1 short of their parts' sum. A slice of all
    organisations or programmes counts a person served by two once, and the people
    assisted count once a person in two cells: the shortfall is how many were counted
    twice, a count as sensitive as any below k, which the total would publish."""
    return {
        total
        for parts, total in lines
        if _of_people(total[1]) and 0 < lattice.shortfall(figures, (parts, total)) < k
    }


def _of_people(key: Hashable) -> bool:
    """Whether a lattice figure counts distinct people (which need not add up)."""
    return key == "people_assisted" or (isinstance(key, tuple) and key[0] == "reached")


def _amounts_name(cur: str) -> tuple[str, str]:
    """The key of a currency's amounts table in the lattice's figures."""
    return ("amounts", cur)


def _protect_amounts(cube: Cube, cur: str, k: int) -> set[Entry]:
    """One currency's amounts over the lattice, hidden where the people are and where
    that currency was paid to 1 to k-1 people (by distinct payees, cell and margin
    alike), then more until no such amount follows from published ones: amounts add up
    exactly along both dimensions (each payment has one organisation and one
    programme), so a programme-wide cell could otherwise publish what a programme's
    hides. A currency's lines are its own: no equation ties it to another, or to counts.
    A slice whose report shows no such row, column or currency shows a 0 a donor knows,
    so those are left off the lines rather than taken as unknown."""
    name = _amounts_name(cur)
    figures: dict[Slice, dict[Hashable, Decimal]] = {}
    lines: list[lattice.Line] = []
    sensitive: set[Entry] = set()
    hidden: set[Entry] = set()
    for s, t in cube.tallies.items():
        if cur not in _currencies(t):
            continue
        rows, cols, _ = _reached_counts(t)
        figures[s] = held = _table_figures(name, rows, cols, _amount_grid(t, rows, cols, cur))
        lines += lattice.table_lines(s, name, rows, cols)
        few = _keys(_revealing_amounts(t, rows, cols, cur, k), rows, cols)
        for key in held:
            _, r, c = cast(tuple[str, str, str], key)
            if (s, ("reached", r, c)) in cube.hidden:
                hidden.add((s, key))
            if (r, c) in few:
                sensitive.add((s, key))
    lines += lattice.cross_lines(figures, absent_zero=True)
    return lattice.protect(figures, lines, k, sensitive=sensitive, hidden=hidden, counts=False)


def _keys(mask: Suppressed, rows: list[str], cols: list[str]) -> set[tuple[str, str]]:
    """The (row, column) keys ``mask`` hides, TOTAL for a margin."""
    out = {(r, c) for i, r in enumerate(rows) for j, c in enumerate(cols) if mask.cells[i][j]}
    out |= {(r, TOTAL) for r, hidden in zip(rows, mask.row_totals, strict=True) if hidden}
    out |= {(TOTAL, c) for c, hidden in zip(cols, mask.column_totals, strict=True) if hidden}
    return out | ({(TOTAL, TOTAL)} if mask.total else set())


def compute_report(
    records: Iterable[Record],
    *,
    anchor: dict[str, Any],
    query: ReportQuery,
    cube: Cube | None = None,
) -> dict[str, Any]:
    """Figures over ``records``, the log's records up to ``anchor`` (its summary); a
    query on the lattice is suppressed with ``cube`` (built from the records if not
    given: pass one only when it was built from the same records)."""
    logged = list(records)
    if query.on_lattice:
        where = _slice_of(query)
        counted = month_records(logged, str(where[0]))
        cube = cube or build_cube(logged, query.k, str(where[0]), query.location_chars)
        tally = cube.tallies.get(where)
        if tally is None:
            tally = _tally(query, logged, counted)
    else:
        tally = _tally(query, logged, logged)
    return report_of(tally, anchor=anchor, query=query, cube=cube)


def _tally(query: ReportQuery, logged: list[Record], counted: list[Record]) -> _Tally:
    """The query's tally of the ``counted`` records, with the overlaps it counts."""
    flags = flagged(logged) if query.every_overlap() else {r.position: named(r) for r in counted}
    tally = _Tally(query)
    for record in counted:
        tally.add(record, flags.get(record.position, ()))
    return tally


def _slice_of(query: ReportQuery) -> Slice:
    try:
        return query.slice()
    except ValueError as exc:
        raise ReportError(str(exc)) from None


def report_of(
    tally: _Tally, *, anchor: dict[str, Any], query: ReportQuery, cube: Cube | None
) -> dict[str, Any]:
    """The report of a tally of the log up to ``anchor``; a query on the lattice is
    suppressed with ``cube``, the lattice over the same records."""
    k = query.k
    if query.on_lattice:
        assert cube is not None
        where = _slice_of(query)
        rows, cols, _ = _reached_counts(tally)
        sectors, states, _, _ = _referral_counts(tally)
        amount_masks = {
            cur: cube.mask(where, _amounts_name(cur), rows, cols) for cur in _currencies(tally)
        }
        reached = _reached_table(tally, k, cube.mask(where, "reached", rows, cols), amount_masks)
        referrals, refs = _referral_table(tally, k, cube.mask(where, "referrals", sectors, states))
    else:
        reached = _reached_table(tally, k)
        referrals, refs = _referral_table(tally, k)
    own = _own_counts(tally, refs)
    completed = own["referrals_completed"]
    people_hidden = reached["people"]["total"] is None
    counts: dict[str, tuple[int, bool]] = {
        "people_assisted": (len(tally.people), people_hidden),
        "deliveries": (sum(tally.deliveries.values()), people_hidden),
        **{name: (own[name], False) for name in _OWN[:4]},
        "referrals_made": (len(refs), referrals["referrals"]["total"] is None),
        "referrals_accepted": (own["referrals_accepted"], False),
        # the referrals table's "completed" column total, hidden with it
        "referrals_completed": (completed, referrals["referrals"]["column_totals"][2] is None),
    }
    summary: dict[str, Any] = {}
    suppressed: list[str] = []
    for name, (value, forced) in counts.items():
        hidden = forced or 0 < value < k
        if query.on_lattice and cube is not None and name in _ON_LATTICE:
            hidden |= cube.hides(where, name)
        summary[name] = None if hidden else value
        if hidden:
            suppressed.append(name)
    # Hidden with the count it is taken over: published beside that count hidden, it
    # would tell a hidden count of k or more from one below k.
    median_hidden = completed < k or summary["referrals_completed"] is None
    summary["median_days_to_completion"] = None if median_hidden else _median_days(refs)
    if median_hidden:
        suppressed.append("median_days_to_completion")
    return {
        "format": REPORT_FORMAT,
        "anchor": anchor,
        "query": query.as_dict(),
        "summary": summary,
        "suppressed": suppressed,
        "tables": {"reached": reached, "referrals": referrals},
    }


def report_from_log(
    log: VerifiableLog, query: ReportQuery, size: int | None = None
) -> dict[str, Any]:
    """Compute at an anchor of the log (default: the latest); the log checks that the
    records it reads are the ones its anchor names."""
    anchor = log.anchor(size)
    try:
        return compute_report(log.records(anchor), anchor=anchor.summary, query=query)
    except IntegrityError as exc:
        raise ReportError(str(exc)) from exc
