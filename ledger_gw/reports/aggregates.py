"""Running totals per day, organisation and programme, folded as records are appended.

Replaying the whole log for every report costs time in proportion to the log, and a
page of reports (the lattice's every slice, a series of periods) multiplies it. These
aggregates are folded once, record by record, and a new checkpoint folds only its own
new records; any report's tally (:class:`ledger_gw.reports.accountability._Tally`) is
then a sum over the days of its period, and the lattice's suppression runs on those
tallies as it does on replayed ones. The fold applies exactly the replay's rules (the
organisation that signed, the entitlement as it stood when a delivery or revocation
was recorded, the referral's current state), so the figures are the same:
``compute_report`` replays, for anyone who recomputes a report, and the tests hold the
two equal.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from ledger_gw.interfaces import Record
from ledger_gw.reports import lattice
from ledger_gw.reports.accountability import (
    UNKNOWN_LOCATION,
    Cube,
    ReportQuery,
    _Ent,
    _Ref,
    _Tally,
    slice_query,
    suppress_cube,
)
from ledger_gw.transaction import parse_time

Cell = tuple[str, str]  # (location cut to location_chars, modality)


@dataclass
class _Day:
    """What one organisation recorded for one programme on one day."""

    granted: int = 0
    revoked: int = 0
    flagged: dict[str, list[str]] = field(default_factory=dict)  # entitlement -> duplicates
    reached: dict[Cell, set[str]] = field(default_factory=lambda: defaultdict(set))
    deliveries: dict[Cell, int] = field(default_factory=lambda: defaultdict(int))
    amounts: dict[tuple[str, str, str], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )


class Aggregates:
    """The fold of a log prefix: per-day totals, entitlements and referrals as they stand."""

    def __init__(self, location_chars: int = 4) -> None:
        self.location_chars = location_chars
        self.ents: dict[str, _Ent] = {}
        self.refs: dict[str, _Ref] = {}
        self.referred: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)  # (day, org)
        self.days: dict[str, dict[tuple[str, str], _Day]] = defaultdict(dict)
        self.months: set[str] = set()
        self.orgs: set[str] = set()
        self.programmes: set[str] = set()

    def add(self, records: Iterable[Record]) -> None:
        for record in records:
            self._add(record)

    def _day(self, day: str, ent: _Ent) -> _Day:
        cells = self.days[day]
        found = cells.get((ent.org, ent.programme))
        if found is None:
            found = cells[(ent.org, ent.programme)] = _Day()
        return found

    def _add(self, record: Record) -> None:
        e = record.event
        if not e:
            return
        org, kind, day = record.org, str(e.get("type")), record.timestamp[:10]
        when = parse_time(record.timestamp)
        self.orgs.add(org)
        self.months.add(record.timestamp[:7])
        if kind == "entitlement.granted":
            eid = str(e["entitlement_id"])
            ent = _Ent(
                org, str(e["pid"]), str(e["programme"]), str(e["modality"]), e.get("location")
            )
            self.ents[eid] = ent
            self.programmes.add(ent.programme)
            totals = self._day(day, ent)
            totals.granted += 1
            duplicates = record.result.get("possible_duplicate_of") or []
            if duplicates:
                totals.flagged[eid] = [str(d) for d in duplicates]
        elif kind == "assistance.delivered":
            self.months.add(str(e["date"])[:7])
            self._deliver(e)
        elif kind.startswith("entitlement."):
            held = self.ents.get(str(e["entitlement_id"]))
            if held is not None:
                held.state = kind.split(".", 1)[1]
                if kind == "entitlement.revoked":
                    self._day(day, held).revoked += 1
        elif kind == "referral.created":
            rid = str(e["referral_id"])
            old = self.refs.get(rid)
            if old is not None:
                self.referred[(old.created.date().isoformat(), old.org)].pop(rid, None)
            self.refs[rid] = _Ref(org, str(e["pid"]), str(e["sector"]), when)
            self.referred[(when.date().isoformat(), org)][rid] = None
        elif kind.startswith("referral."):
            self._referral_step(str(e["referral_id"]), kind.split(".", 1)[1], when)

    def _deliver(self, e: dict[str, object]) -> None:
        ent = self.ents.get(str(e["entitlement_id"]))
        if ent is None:
            return
        where = e.get("location") or ent.location or UNKNOWN_LOCATION
        cell = (str(where)[: self.location_chars], ent.modality)
        totals = self._day(str(e["date"]), ent)
        totals.reached[cell].add(ent.pid)
        totals.deliveries[cell] += 1
        totals.amounts[(*cell, str(e["currency"]))] += Decimal(str(e["amount"]))

    def _referral_step(self, rid: str, step: str, when: dt.datetime) -> None:
        ref = self.refs.get(rid)
        if ref is None:
            return
        ref.state = step
        ref.accepted |= step == "accepted"
        if step == "completed":
            ref.completed = when

    def tally(self, query: ReportQuery) -> _Tally:
        """The query's tally, as a replay of the same records would leave it."""
        if query.location_chars != self.location_chars:
            raise ValueError("these aggregates cut locations to another length")
        t = _Tally(query)
        t.ents = self.ents
        for day in self._days_of(query):
            for (org, programme), totals in self.days[day].items():
                if not t.mine(org) or query.programme not in (None, programme):
                    continue
                t.granted += totals.granted
                t.revoked += totals.revoked
                t.flagged.update(totals.flagged)
                t.duplicates_of.update(totals.flagged)
                for cell, people in totals.reached.items():
                    t.reached[cell] |= people
                    t.people |= people
                for cell, n in totals.deliveries.items():
                    t.deliveries[cell] += n
                for key, amount in totals.amounts.items():
                    t.amounts[key] += amount
        t.refs = {
            rid: self.refs[rid]
            for (day, org), rids in self.referred.items()
            if query.in_period(day) and t.mine(org)
            for rid in rids
        }
        return t

    def first_day(self, query: ReportQuery) -> str | None:
        """The first day with a grant, revocation or delivery the query counts."""
        for day in sorted(self.days):
            if query.in_period(day) and any(
                (query.org in (None, org)) and query.programme in (None, programme)
                for org, programme in self.days[day]
            ):
                return day
        return None

    def _days_of(self, query: ReportQuery) -> list[str]:
        return [day for day in self.days if query.in_period(day)]

    def cube(self, k: int) -> Cube:
        """The lattice over these records, suppressed as one (as ``build_cube`` does)."""
        cube = Cube({})
        for s in lattice.slices(self.months, self.orgs, self.programmes):
            cube.tallies[s] = self.tally(slice_query(s, k, self.location_chars))
        return suppress_cube(cube, k)
