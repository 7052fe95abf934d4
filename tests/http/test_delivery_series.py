"""The dashboard's delivery series honours the report's filters: its periods lie within
``from``..``to``, and each label names its year."""

from __future__ import annotations

import datetime as dt
import itertools

from ledger_gw.services import reports
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.reports import WeekPoint
from tests.support import events as ev
from tests.support.witnesses import settled

AGENCY = Caller("t", "AGENCY-A", Role.AGENCY_READER)


def _deliver(gateway: Gateway, day: dt.date, people: int) -> None:
    client = gateway.client(Caller("w", "AGENCY-A", Role.AGENCY_WRITER))
    for _ in range(people):
        grant = ev.entitlement_granted(ev.pid())
        client.submit(grant)
        client.submit(ev.delivery(grant["entitlement_id"], date=day.isoformat()))
    settled(gateway.ledger)  # reports anchor at the latest checkpoint the witnesses cosigned


def test_the_weekly_series_starts_at_from_and_ends_at_to(gateway: Gateway) -> None:
    today = dt.datetime.now(dt.UTC).date()
    start, end = today - dt.timedelta(days=17), today - dt.timedelta(days=2)
    _deliver(gateway, start - dt.timedelta(days=1), 6)  # the day before from: not shown
    _deliver(gateway, start, 5)
    query = reports.query_for(gateway, AGENCY, start=start.isoformat(), end=end.isoformat())
    series = reports.weekly_deliveries(gateway, query)
    assert series[0].start == start.isoformat()
    assert series[-1].end == end.isoformat()
    for before, after in itertools.pairwise(series):
        assert dt.date.fromisoformat(after.start) == dt.date.fromisoformat(
            before.end
        ) + dt.timedelta(days=1)
        assert dt.date.fromisoformat(after.start).weekday() == 0  # ISO weeks begin on Monday
    assert [p.deliveries for p in series if p.deliveries] == [5]
    assert sum(p.deliveries or 0 for p in series) == 5
    whole = reports.compute(gateway, query)["summary"]["deliveries"]
    assert whole == 5


def test_without_from_the_series_is_the_last_weeks_up_to_to(gateway: Gateway) -> None:
    end = dt.datetime.now(dt.UTC).date()
    _deliver(gateway, end, 1)
    query = reports.query_for(gateway, AGENCY, end=end.isoformat())
    series = reports.weekly_deliveries(gateway, query, weeks=9)
    assert len(series) == 9
    assert series[-1].end == end.isoformat()
    assert dt.date.fromisoformat(series[0].start).weekday() == 0


def test_a_period_of_a_century_draws_only_its_last_weeks(gateway: Gateway) -> None:
    """Each point is a report of its own: a chart from 1900 by week would be thousands."""
    end = dt.datetime.now(dt.UTC).date()
    _deliver(gateway, end, 1)
    query = reports.query_for(gateway, AGENCY, start="1900-01-01", end=end.isoformat())
    series = reports.weekly_deliveries(gateway, query)
    assert len(series) == reports.MAX_WEEKS
    assert series[-1].end == end.isoformat()
    for before, after in itertools.pairwise(series):
        assert dt.date.fromisoformat(after.start) == dt.date.fromisoformat(
            before.end
        ) + dt.timedelta(days=1)


def test_labels_carry_the_iso_year() -> None:
    assert WeekPoint("2026-12-28", "2027-01-03", None, None).label == "2026-W53"
    assert WeekPoint("2027-01-01", "2027-01-03", None, None).label == "2026-W53"
    assert WeekPoint("2027-01-04", "2027-01-10", None, None).label == "2027-W01"
    assert WeekPoint("2024-12-30", "2025-01-05", None, None).label == "2025-W01"
    assert WeekPoint("2026-12-01", "2026-12-31", 9, 9, "month").label == "2026-12"
