"""Donors' periods are calendar months (or all time): a period off a month's bounds is
refused, naming the rule; agencies keep arbitrary periods over their own figures."""

from __future__ import annotations

import pytest

from ledger_gw.errors import ValidationError
from ledger_gw.services import reports
from ledger_gw.services.gateway import Gateway
from tests.service.conftest import MakeCaller


def test_donor_queries_are_on_the_lattice(gateway: Gateway, caller: MakeCaller) -> None:
    donor = caller("DONOR-Y", "donor")
    month = reports.query_for(gateway, donor, start="2026-02-01", end="2026-02-28")
    assert (month.start, month.end, month.on_lattice) == ("2026-02-01", "2026-02-28", True)
    assert reports.query_for(gateway, donor).on_lattice  # all time is the lattice's total


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-10-01", "2026-10-30", "to"),  # a day short: 302 and 305, 3 people
        ("2026-10-02", "2026-10-31", "from"),
        ("2026-10-01", "2026-11-30", "to"),  # two months overlap the single ones
        ("2026-10-01", None, "to"),
        (None, "2026-10-31", "from"),
    ],
)
def test_donor_periods_are_calendar_months(
    gateway: Gateway, caller: MakeCaller, start: str | None, end: str | None, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        reports.query_for(gateway, caller("DONOR-Y", "donor"), start=start, end=end)
    assert (info.value.code, info.value.field) == ("unaligned_period", field)


def test_agencies_keep_arbitrary_periods(gateway: Gateway, caller: MakeCaller) -> None:
    own = reports.query_for(
        gateway, caller("AGENCY-A", "agency-reader"), start="2026-10-02", end="2026-10-30"
    )
    assert (own.org, own.start, own.on_lattice) == ("AGENCY-A", "2026-10-02", False)
