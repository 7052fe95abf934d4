"""Pure parts of the dashboard and reports services: chart geometry, the weekly series'
complementary suppression, and the synthetic population's plan."""

from __future__ import annotations

import datetime as dt

from api.dashboard import charts
from ledger_gw.demo.consortium import DEMO
from ledger_gw.demo.synthetic import AGENCIES, plan
from ledger_gw.services.reports import WeekPoint, protect_series


def test_suppressed_bars_have_a_fixed_length_that_tells_nothing() -> None:
    chart = charts.horizontal("t", [("a", 100), ("b", None), ("c", 50)], k=5)
    a, b, c = chart.bars
    assert c.width == a.width / 2
    other = charts.horizontal("t", [("a", 7), ("b", None)], 5)
    assert b.suppressed
    assert b.width == other.bars[1].width
    v = charts.vertical("t", [("w1", 10), ("w2", None)], k=5)
    assert v.bars[0].y + v.bars[0].height == v.bars[1].y + v.bars[1].height  # same baseline
    assert charts.vertical("t", [], 5).empty


def _week(n: int | None) -> WeekPoint:
    return WeekPoint("2026-01-01", "2026-01-07", n, n)


def test_one_suppressed_week_takes_the_smallest_other_with_it() -> None:
    out = protect_series([_week(None), _week(12), _week(8), _week(0)])
    assert [p.deliveries for p in out] == [None, 12, None, 0]


def test_no_or_two_suppressed_weeks_are_left_alone() -> None:
    series = [_week(None), _week(None), _week(9)]
    assert protect_series(series) == series
    assert protect_series([_week(7), _week(9)]) == [_week(7), _week(9)]
    assert protect_series([_week(None), _week(0)]) == [_week(None), _week(0)]


def test_synthetic_plan_is_deterministic_and_uses_listed_programmes() -> None:
    today = dt.date(2026, 6, 1)
    first, again = plan(7, today), plan(7, today)
    assert first == again
    events = [e for phase in first for batch in phase.values() for e in batch]
    grants = [e for e in events if e["type"] == "entitlement.granted"]
    assert len(grants) >= sum(AGENCIES.values())
    assert {g["programme"] for g in grants} <= set(DEMO.programmes)
    deliveries = [e for e in events if e["type"] == "assistance.delivered"]
    assert all(e["date"] <= today.isoformat() for e in deliveries)
    assert min(e["date"] for e in deliveries) < (today - dt.timedelta(weeks=8)).isoformat()
    assert {e["to_org"] for e in events if e["type"] == "referral.created"} == set(AGENCIES)
