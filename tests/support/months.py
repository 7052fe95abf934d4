"""Close the current calendar month, as donors' reports need (a month is released once
the ledger logs a record after it): move the process's clock into the next month and
log one event there, then stay there until the block ends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import time_machine

from ledger_gw.reports.accountability import month_bounds
from tests.support import events as ev


def this_month() -> tuple[str, str]:
    """The bounds of the current calendar month (UTC), as a donor names it."""
    start, end = month_bounds(dt.datetime.now(dt.UTC).strftime("%Y-%m"))
    return str(start), str(end)


@contextmanager
def month_closed(submit: Callable[[dict[str, Any]], Any]) -> Iterator[tuple[str, str]]:
    """Within the block, this month (whose bounds it yields) is closed on the ledger."""
    month = this_month()
    following = dt.date.fromisoformat(month[1]) + dt.timedelta(days=1)
    moment = dt.datetime.combine(following, dt.time(1), tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=True):
        submit(ev.consent_granted(ev.pid()))
        yield month


def closer(ledger: Any, signer: Any) -> Callable[[dict[str, Any]], Any]:
    """Submit as ``signer``'s organisation, then wait for the witnesses' cosignatures."""
    from ledger_gw.client import OrgClient
    from tests.support.witnesses import settled

    def submit(event: dict[str, Any]) -> None:
        OrgClient(ledger, signer).submit(event)
        settled(ledger)

    return submit
