"""When donors' figures are released, and on which records, so that none can be
subtracted from another.

Two answers for the same slice that differ a little give the difference away: the same
month at two values of k (two suppression patterns), or at two checkpoints (a few
events logged in between). So a donor's figures are a fixed release, one per closed
calendar month, at the consortium's one k:

- **k is policy** (:data:`DONOR_K`): a donor cannot choose it, neither lower nor higher.
- **A month is released once closed, on the records of its own closing**: the events
  the ledger logged in that month (by the signed transaction's time, which the
  embedded ledger holds to its own clock), replayed over the log as it stood when the
  month closed, i.e. before the first record logged :data:`GRACE` or more after the
  month's end. A record logged after that one is no part of the month, even one
  dated inside it (a Fabric member chooses its transactions' times), so every
  checkpoint from the closing on gives the same figures.
- **Each month is a lattice of its own** (organisations x programmes within it): no
  figure spans months, so no month's figures are a difference of others'; "all time"
  is therefore not a donor period, since it would grow with every month and its
  successive values would differ by one month's figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from ledger_gw.interfaces import Record
from ledger_gw.reports.suppression import DEFAULT_K
from ledger_gw.transaction import parse_time

#: The consortium's k for donors' reports: the one value every donor report is suppressed at.
DONOR_K = DEFAULT_K
#: Twice the embedded ledger's clock tolerance: once a record this long after a month's
#: end is logged, no transaction the ledger's clock still admits can be dated in it.
GRACE = dt.timedelta(minutes=20)


class PeriodOpenError(ValueError):
    """The month is not closed on this log yet: its figures could still change."""


def _month_start(month: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{month}-01T00:00:00+00:00")


def next_month(month: str) -> str:
    first = _month_start(month).date()
    return (first + dt.timedelta(days=31)).replace(day=1).isoformat()[:7]


def month_end(month: str) -> dt.datetime:
    """The first instant after ``month``: what its release counts is dated before it."""
    return _month_start(next_month(month))


def closes(month: str) -> dt.datetime:
    """The earliest time of a record that closes ``month``."""
    return month_end(month) + GRACE


def closing_records(records: Iterable[Record], month: str) -> list[Record]:
    """The records a month's release counts: those logged before its closing record and
    dated before its end; PeriodOpenError when the log holds no closing record yet."""
    end, closing = month_end(month), closes(month)
    held: list[Record] = []
    for record in records:
        when = parse_time(record.timestamp)
        if when >= closing:
            return held
        if when < end:
            held.append(record)
    raise PeriodOpenError(f"{month} is not closed on this ledger yet: its figures could change")


def latest_closed(records: Iterable[Record]) -> str | None:
    """The latest month closed on these records (None on an empty log)."""
    newest = max((parse_time(r.timestamp) for r in records), default=None)
    if newest is None:
        return None
    month = (newest - GRACE).strftime("%Y-%m")
    return (_month_start(month) - dt.timedelta(days=1)).strftime("%Y-%m")
