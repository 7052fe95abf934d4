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
    default = reports.query_for(gateway, donor)  # the last month closed
    assert (default.start, default.end, default.on_lattice) == (
        *reports.last_closed_month(),
        True,
    )


def test_last_closed_month_waits_for_the_grace_after_a_month_ends() -> None:
    import datetime as dt

    just_after = dt.datetime(2026, 3, 1, 0, 5, tzinfo=dt.UTC)
    assert reports.last_closed_month(just_after) == ("2026-01-01", "2026-01-31")
    later = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.UTC)
    assert reports.last_closed_month(later) == ("2026-02-01", "2026-02-28")


@pytest.mark.parametrize(("k", "code"), [(2, "k_too_small"), (6, "k_fixed"), (20, "k_fixed")])
def test_donors_cannot_choose_k(gateway: Gateway, caller: MakeCaller, k: int, code: str) -> None:
    """Two suppression patterns of one month could give each other's hidden cells."""
    with pytest.raises(ValidationError) as info:
        reports.query_for(gateway, caller("DONOR-Y", "donor"), k=k)
    assert (info.value.code, info.value.field) == (code, "k")
    own = reports.query_for(gateway, caller("AGENCY-A", "agency-reader"), k=20)
    assert own.k == 20  # an agency may be stricter with its own figures
