"""One day's totals per organisation and programme, and their sum over a period.

A report's tally (:class:`ledger_gw.reports.accountability._Tally`) over a period is the
sum of the days in it, as long as each day holds exactly what a replay would have
counted on it; the running totals (:mod:`ledger_gw.reports.aggregates`) and donors'
months (:mod:`ledger_gw.reports.monthly`) keep such days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledger_gw.reports.accountability import UNKNOWN_LOCATION, _Ent, _Tally, add_payment

Cell = tuple[str, str]  # (location cut to location_chars, modality)
Cells = Mapping[tuple[str, str], "Day"]  # (organisation, programme): totals


@dataclass
class Day:
    """What one organisation recorded for one programme on one day."""

    granted: int = 0
    revoked: int = 0
    flagged: dict[str, list[str]] = field(default_factory=dict)  # entitlement -> duplicates
    # those the contract named to its granter (ReportQuery.every_overlap)
    named: dict[str, list[str]] = field(default_factory=dict)
    reached: dict[Cell, set[str]] = field(default_factory=lambda: defaultdict(set))
    deliveries: dict[Cell, int] = field(default_factory=lambda: defaultdict(int))
    amounts: dict[tuple[str, str, str], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    # what each person was paid in each cell and currency: an amount that gives away
    # one payment is hidden
    paid: dict[tuple[str, str, str], dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    @staticmethod
    def of(days: dict[str, dict[tuple[str, str], Day]], day: str, ent: _Ent) -> Day:
        """The totals of ``ent``'s organisation and programme on ``day`` (made if new)."""
        cells = days[day]
        found = cells.get((ent.org, ent.programme))
        if found is None:
            found = cells[(ent.org, ent.programme)] = Day()
        return found

    def deliver(self, e: Mapping[str, Any], ent: _Ent, location_chars: int) -> None:
        """Count delivery ``e`` of entitlement ``ent``, in its location's cell."""
        where = e.get("location") or ent.location or UNKNOWN_LOCATION
        cell = (str(where)[:location_chars], ent.modality)
        self.reached[cell].add(ent.pid)
        self.deliveries[cell] += 1
        amount, key = Decimal(str(e["amount"])), (*cell, str(e["currency"]))
        self.amounts[key] += amount
        add_payment(self.paid[key], ent.pid, amount)


def sum_days(t: _Tally, days: Iterable[Cells]) -> None:
    """Add the days' totals that the tally's query counts into it."""
    for cells in days:
        for (org, programme), totals in cells.items():
            if not t.mine(org) or t.q.programme not in (None, programme):
                continue
            t.granted += totals.granted
            t.revoked += totals.revoked
            overlaps = totals.flagged if t.q.every_overlap() else totals.named
            t.flagged.update(overlaps)
            t.duplicates_of.update(overlaps)
            for cell, people in totals.reached.items():
                t.reached[cell] |= people
                t.people |= people
            for cell, n in totals.deliveries.items():
                t.deliveries[cell] += n
            for key, amount in totals.amounts.items():
                t.amounts[key] += amount
            for key, payments in totals.paid.items():
                for person, amount in payments.items():
                    add_payment(t.paid[key], person, amount)
