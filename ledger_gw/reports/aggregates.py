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
two equal. Donors' months are folded alongside (:mod:`ledger_gw.reports.monthly`), each
frozen once the log closes it, so a new record changes no donor's figures.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ledger_gw.interfaces import Record
from ledger_gw.reports.accountability import Cube, ReportQuery, _Ent, _Ref, _Tally
from ledger_gw.reports.days import Day, sum_days
from ledger_gw.reports.monthly import MonthlyReleases
from ledger_gw.reports.overlaps import Overlaps, named
from ledger_gw.transaction import parse_time


class Aggregates:
    """The fold of a log prefix: per-day totals, entitlements and referrals as they stand."""

    #: The rules these totals are folded and their months suppressed by. A gateway saves
    #: them; a copy saved under other rules (2: amounts hidden by who was paid in their
    #: currency, which earlier copies neither hold nor applied; 3: no count below k known
    #: to be small by a donor who takes hidden counts to be non-zero, nor people counted
    #: twice published as a shortfall; 4: what each person was paid, for the p% rule on
    #: amounts; 5: every grant's overlaps, found from the log rather than read from the
    #: contract's answer, which names only those its granter may read; 6: that answer
    #: too, which one organisation's own figures count; 7: the referrals cancelled after
    #: acceptance, which a donor finds by subtraction, protected as a count of their own)
    #: is not read back.
    RULES = 7

    def __init__(self, location_chars: int = 4) -> None:
        self.rules = self.RULES
        self.location_chars = location_chars
        self.ents: dict[str, _Ent] = {}
        self.refs: dict[str, _Ref] = {}
        self.referred: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)  # (day, org)
        self.days: dict[str, dict[tuple[str, str], Day]] = defaultdict(dict)
        self.monthly = MonthlyReleases(location_chars)
        self.overlaps = Overlaps()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled: refused unless saved under these rules (the log is folded again)."""
        if state.get("rules") != self.RULES:
            raise ValueError("report totals saved under other rules")
        self.__dict__.update(state)

    def add(self, records: Iterable[Record]) -> int:
        """Fold the records in; how many there were."""
        n = 0
        for record in records:
            duplicates = self.overlaps.add(record.event)
            self._add(record, duplicates)
            self.monthly.add(record, duplicates)
            n += 1
        return n

    def _day(self, day: str, ent: _Ent) -> Day:
        return Day.of(self.days, day, ent)

    def _add(self, record: Record, duplicates: list[str]) -> None:
        e = record.event
        if not e:
            return
        org, kind, day = record.org, str(e.get("type")), record.timestamp[:10]
        when = parse_time(record.timestamp)
        if kind == "entitlement.granted":
            eid = str(e["entitlement_id"])
            ent = _Ent(
                org, str(e["pid"]), str(e["programme"]), str(e["modality"]), e.get("location")
            )
            self.ents[eid] = ent
            totals = self._day(day, ent)
            totals.granted += 1
            if duplicates:
                totals.flagged[eid] = duplicates
            if told := named(record):
                totals.named[eid] = told
        elif kind == "assistance.delivered":
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
        self._day(str(e["date"]), ent).deliver(e, ent, self.location_chars)

    def _referral_step(self, rid: str, step: str, when: dt.datetime) -> None:
        ref = self.refs.get(rid)
        if ref is not None:
            ref.step(step, when)

    def tally(self, query: ReportQuery) -> _Tally:
        """The query's tally, as a replay of the same records would leave it."""
        if query.location_chars != self.location_chars:
            raise ValueError("these aggregates cut locations to another length")
        t = _Tally(query)
        t.ents = self.ents
        sum_days(t, (self.days[day] for day in self._days_of(query)))
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

    def cube(self, month: str, k: int) -> Cube:
        """A closed month's lattice, suppressed as one (as ``build_cube`` does);
        PeriodNotClosedError while it is open."""
        return self.monthly.cube(month, k)
