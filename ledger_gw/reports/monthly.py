"""Donors' months folded as the log grows, each frozen as the log closes it.

A donor's month is released on the records of its own closing
(:mod:`ledger_gw.reports.release`): those logged before the first record
:data:`~ledger_gw.reports.release.GRACE` past its end, and dated before that end. Folded
in log order, that is: a record counts on its logging day only while its month is still
open; an entitlement, a referral and their steps count for a month only when dated
before its end. When the closing record arrives, the month's lattice is tallied from
its days and the entitlements' and referrals' states as of its end, and kept: later
records never touch it, so a write costs a donor's figures nothing, and each month's
suppression is computed once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from ledger_gw.interfaces import Record
from ledger_gw.reports import lattice
from ledger_gw.reports.accountability import (
    Cube,
    PeriodNotClosedError,
    ReportQuery,
    _Ent,
    _Ref,
    _Tally,
    slice_query,
    suppress_cube,
)
from ledger_gw.reports.days import Day, sum_days
from ledger_gw.reports.lattice import Slice
from ledger_gw.reports.release import GRACE, closes, month_end, next_month
from ledger_gw.reports.suppression import DEFAULT_K
from ledger_gw.transaction import parse_time

Steps = list[tuple[dt.datetime, str]]  # (when dated, state it leads to), in log order


@dataclass
class _Granted:
    ent: _Ent
    when: dt.datetime


class MonthlyReleases:
    """Open months' days by logging day, and closed months' lattices as released."""

    def __init__(self, location_chars: int = 4) -> None:
        self.location_chars = location_chars
        self.open_from: str | None = None  # the earliest month not closed yet
        self.days: dict[str, dict[tuple[str, str], Day]] = defaultdict(dict)  # open months'
        self.ents: dict[str, _Granted] = {}
        self.ent_steps: dict[str, Steps] = defaultdict(list)
        self.refs: dict[str, _Ref] = {}  # as created
        self.ref_steps: dict[str, Steps] = defaultdict(list)
        self.created: dict[str, list[str]] = defaultdict(list)  # open month: its referrals
        self.org_since: dict[str, dt.datetime] = {}  # the earliest dated record of each
        self.programme_since: dict[str, dt.datetime] = {}
        self.closed: dict[str, dict[Slice, _Tally]] = {}
        self.cubes: dict[tuple[str, int], Cube] = {}
        self._ends: dict[str, dt.datetime] = {}

    def add(self, record: Record, duplicates: list[str]) -> None:
        """Fold one record; ``duplicates``, for a grant, the open grants it overlaps."""
        when = parse_time(record.timestamp)
        self._close_before(when)
        e = record.event
        if not e:
            return
        org, kind, day = record.org, str(e.get("type")), record.timestamp[:10]
        month = day[:7]
        assert self.open_from is not None
        counted = month >= self.open_from and when < self._end(month)
        _earliest(self.org_since, org, when)
        if kind == "entitlement.granted":
            eid = str(e["entitlement_id"])
            ent = _Ent(
                org, str(e["pid"]), str(e["programme"]), str(e["modality"]), e.get("location")
            )
            self.ents[eid] = _Granted(ent, when)
            _earliest(self.programme_since, ent.programme, when)
            if counted:
                totals = Day.of(self.days, day, ent)
                totals.granted += 1
                if duplicates:
                    totals.flagged[eid] = duplicates
        elif kind == "assistance.delivered":
            held = self._held(e, month) if counted else None
            if held is not None:
                Day.of(self.days, day, held).deliver(e, held, self.location_chars)
        elif kind.startswith("entitlement."):
            eid = str(e["entitlement_id"])
            if eid in self.ents:
                self.ent_steps[eid].append((when, kind.split(".", 1)[1]))
            held = self._held(e, month) if counted else None
            if held is not None and kind == "entitlement.revoked":
                Day.of(self.days, day, held).revoked += 1
        elif kind == "referral.created":
            rid = str(e["referral_id"])
            self.refs[rid] = _Ref(org, str(e["pid"]), str(e["sector"]), when)
            if counted:
                self.created[month].append(rid)
        elif kind.startswith("referral.") and str(e["referral_id"]) in self.refs:
            self.ref_steps[str(e["referral_id"])].append((when, kind.split(".", 1)[1]))

    def _end(self, month: str) -> dt.datetime:
        end = self._ends.get(month)
        if end is None:
            end = self._ends[month] = month_end(month)
        return end

    def _held(self, e: dict[str, Any], month: str) -> _Ent | None:
        """The entitlement a step of ``month`` names, if the month's release holds it."""
        granted = self.ents.get(str(e["entitlement_id"]))
        if granted is None or granted.when >= self._end(month):
            return None
        return granted.ent

    def _close_before(self, when: dt.datetime) -> None:
        """Freeze every month a record dated ``when`` closes (the log's first record
        closes, empty, every month before it)."""
        if self.open_from is None:
            self.open_from = (when - GRACE).astimezone(dt.UTC).strftime("%Y-%m")
        while closes(self.open_from) <= when:
            self.closed[self.open_from] = self._freeze(self.open_from)
            self.open_from = next_month(self.open_from)

    def _freeze(self, month: str) -> dict[Slice, _Tally]:
        """The month's lattice as its release counts it, at its closing."""
        end = self._end(month)
        orgs = [o for o, since in self.org_since.items() if since < end]
        programmes = [p for p, since in self.programme_since.items() if since < end]
        days = [self.days.pop(d) for d in sorted(self.days) if d[:7] == month]
        refs = {rid: self._ref_at(rid, end) for rid in self.created.pop(month, [])}
        tallies: dict[Slice, _Tally] = {}
        for s in lattice.slices([month], orgs, programmes):
            if s[0] is None:
                continue  # no figure spans months
            t = tallies[s] = _Tally(slice_query(s, DEFAULT_K, self.location_chars))
            sum_days(t, days)
            t.refs = refs
        whole = tallies[(month, None, None)]  # every flagged grant, with its duplicates
        named = set(whole.flagged).union(*whole.duplicates_of.values())
        ents = {eid: self._ent_at(eid, end) for eid in named}
        held = {eid: ent for eid, ent in ents.items() if ent is not None}
        for t in tallies.values():
            t.ents = held
        return tallies

    def _ent_at(self, eid: str, end: dt.datetime) -> _Ent | None:
        granted = self.ents.get(eid)
        if granted is None or granted.when >= end:
            return None
        state = granted.ent.state
        for when, step in self.ent_steps.get(eid, []):
            if when < end:
                state = step
        return replace(granted.ent, state=state)

    def _ref_at(self, rid: str, end: dt.datetime) -> _Ref:
        ref = replace(self.refs[rid])
        for when, step in self.ref_steps.get(rid, []):
            if when < end:
                ref.state = step
                ref.accepted |= step == "accepted"
                if step == "completed":
                    ref.completed = when
        return ref

    def tallies(self, month: str) -> dict[Slice, _Tally]:
        """A closed month's lattice; PeriodNotClosedError while it is open."""
        held = self.closed.get(month)
        if held is not None:
            return held
        if self.open_from is None or month >= self.open_from:
            raise PeriodNotClosedError(
                f"{month} is not closed on this ledger yet: its figures could change"
            )
        whole = (month, None, None)  # closed before the log's first record: empty
        return {whole: _Tally(slice_query(whole, DEFAULT_K, self.location_chars))}

    def cube(self, month: str, k: int) -> Cube:
        """A closed month's lattice suppressed as one (computed once: it cannot change)."""
        cube = self.cubes.get((month, k))
        if cube is None:
            cube = self.cubes[(month, k)] = suppress_cube(Cube(dict(self.tallies(month))), k)
        return cube

    def tally(self, query: ReportQuery, cube: Cube) -> _Tally:
        """The tally of the query's slice in its month's ``cube``; a slice the lattice
        lacks (an organisation or programme with no record dated before the month's
        end) counts nothing but, for a known organisation, its referrals."""
        s = query.slice()
        held = cube.tallies.get(s)
        if held is not None:
            return held
        t = _Tally(query)
        whole = cube.tallies.get((s[0], s[1], None))
        if whole is not None:
            t.refs, t.ents = whole.refs, whole.ents
        return t


def _earliest(since: dict[str, dt.datetime], key: str, when: dt.datetime) -> None:
    if key not in since or when < since[key]:
        since[key] = when
