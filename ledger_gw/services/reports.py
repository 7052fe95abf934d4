"""Donor accountability reports through the gateway: computed, signed, exported, charted.

A report is a pure function of a log prefix and a query
(:func:`ledger_gw.reports.accountability.report_from_log`), so it is cached by
(anchor, query): a new checkpoint (or block) makes a new key, and nothing stale is
ever served. The gateway does not replay the log for each report: it keeps the log's
running totals (:mod:`ledger_gw.reports.aggregates`), to which a new checkpoint adds
only its own new records, and sums them over each report's period; the figures are the
replay's (``report verify`` still replays). The totals are saved, signed, in the
gateway's state directory (:mod:`ledger_gw.services.saved_totals`), so a gateway that
starts folds only the records logged since; the log proves their anchor a prefix of
its own (on either backend) before they are used, else the whole log is folded again.
The report is signed by the gateway acting for the caller's organisation; anyone
holding the ledger recomputes it with ``ledger-gw report verify``.

Donors read figures only for slices of a fixed lattice: a closed calendar month
(``from`` its first day, ``to`` its last; by default the last month closed), for one
organisation or all, one programme or all, at the consortium's k; suppression is
computed over the month's whole lattice at once, and a month's release never changes
once it is closed (:mod:`ledger_gw.reports.release`), so no hidden count is the
difference of published ones, whichever of these reports a donor asks for and
whenever. The running totals freeze each month's lattice as the log closes it
(:mod:`ledger_gw.reports.monthly`) and its suppression is computed once: a write
changes only the open month, which no donor sees, and agencies' own figures.
Agencies and auditors keep arbitrary periods: an agency reads its own figures, an
auditor reads the log itself.

The delivery series is one report per period (each point is what a report with that
``from``/``to`` says, so each is checkable on its own): calendar months on the
lattice for donors; for others 7-day weeks, plus one rule the single reports cannot
apply: deliveries add up across weeks, so when exactly one week is suppressed a second
(the smallest published non-zero week) is hidden too, or the total minus the others
would give it away.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chaincode.canonical import canonical_json
from ledger_gw.consortium import Consortium
from ledger_gw.errors import ForbiddenError, IntegrityError, ValidationError
from ledger_gw.identity import Profile as Profile  # part of this API
from ledger_gw.identity import Signer
from ledger_gw.interfaces import Anchor, AnchorName, VerifiableLog
from ledger_gw.reports import exports
from ledger_gw.reports.accountability import (
    Cube,
    PeriodNotClosedError,
    ReportError,
    compute_report,
    month_bounds,
    report_of,
)
from ledger_gw.reports.accountability import ReportQuery as ReportQuery  # part of this API
from ledger_gw.reports.aggregates import Aggregates
from ledger_gw.reports.iati import GLIDE, to_iati
from ledger_gw.reports.release import DONOR_K, GRACE
from ledger_gw.reports.signing import is_donor_release as is_donor_release  # part of this API
from ledger_gw.reports.signing import sign_report, verify_report
from ledger_gw.reports.suppression import DEFAULT_K as DEFAULT_K  # part of this API
from ledger_gw.services.access import Caller, Role, report_org
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.saved_totals import SavedTotals

FORMATS = {
    "json": ("application/json", "json"),
    "csv": ("text/csv", "csv"),
    "hxl": ("text/csv", "hxl.csv"),
    "iati": ("application/xml", "iati.xml"),
}
CACHE_SIZE = 128
MONTHS_SHOWN = 4  # the donors' delivery series: this month and the three before
# The most weeks a series draws, the last ones of a longer period: a chart of a decade
# by week is unreadable, and each point is a report of its own. (A donor's series is
# one month, or the last MONTHS_SHOWN.)
MAX_WEEKS = 106
# Days a report may name: far from the calendar's ends, where a week or a month around
# them is no date at all.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)

_cache: OrderedDict[tuple[str, ReportQuery], dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass
class _Fold:
    """A log's aggregates and the anchor they have reached."""

    log: weakref.ref[VerifiableLog]
    aggregates: Aggregates
    anchor: Anchor
    unsaved: int = 0  # records folded since the totals were last saved


_folds: OrderedDict[tuple[int, int], _Fold] = OrderedDict()  # (id of the log, location_chars)
FOLDS = 4
SAVE_EVERY = 5000  # records folded between two saves of the totals
_fold_lock = threading.Lock()


@dataclass(frozen=True)
class WeekPoint:
    """One period of the delivery series (an ISO week, or a calendar month on the
    lattice); ``None`` figures are suppressed."""

    start: str
    end: str
    people: int | None
    deliveries: int | None
    period: str = "week"

    @property
    def label(self) -> str:
        """With its year, so that a series across New Year reads in order: the ISO week
        (``2026-W01``, whose ISO year may differ from the calendar year of its days) or
        the month (``2026-12``)."""
        if self.period == "month":
            return self.start[:7]
        year, week, _ = dt.date.fromisoformat(self.start).isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def suppressed(self) -> bool:
        return self.deliveries is None


def query_for(
    gateway: Gateway,
    caller: Caller,
    *,
    org: str | None = None,
    programme: str | None = None,
    start: str | None = None,
    end: str | None = None,
    k: int = DEFAULT_K,
) -> ReportQuery:
    """The query the caller may run: agencies are held to their own organisation, and
    nobody may lower k below the consortium's default; donors get the consortium's k
    and closed calendar months (by default the last one)."""
    check_query(gateway.workspace.consortium, org, programme, start, end, k)
    if caller.role is not Role.DONOR:
        return ReportQuery(report_org(caller, org), programme, start, end, k)
    if k != DONOR_K:  # two patterns of one month would give each other's hidden cells
        raise ValidationError(
            f"donor reports are suppressed at the consortium's k={DONOR_K}",
            code="k_fixed",
            field="k",
        )
    if start is None and end is None:
        start, end = last_closed_month()
    _check_month(start, end)
    return ReportQuery(report_org(caller, org), programme, start, end, k, on_lattice=True)


def check_query(
    consortium: Consortium,
    org: str | None,
    programme: str | None,
    start: str | None,
    end: str | None,
    k: int,
) -> None:
    """What any report query must be, whoever runs it and however: members and
    programmes the consortium lists, a period that runs forward, k no lower than the
    consortium's default. A report of nothing, signed, would read as a true zero."""
    if org is not None and org not in consortium.organisations:
        raise ValidationError("org is not a consortium member", code="unknown_org", field="org")
    if programme is not None and programme not in consortium.programmes:
        raise ValidationError(
            "programme is not in the consortium file", code="unknown_programme", field="programme"
        )
    if start and end and start > end:
        raise ValidationError("from is after to", code="invalid_period", field="from")
    if k < DEFAULT_K:
        raise ValidationError(f"k must be at least {DEFAULT_K}", code="k_too_small", field="k")


def report_day(text: str | None, field: str) -> str | None:
    """A day a report names, given as text: YYYY-MM-DD, from FIRST_DAY to LAST_DAY, as
    the report's query then carries it."""
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or day.isoformat() != text or not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(
            f"{field} {text!r} is not a day YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}",
            code="invalid_date",
            field=field,
        )
    return text


def last_closed_month(now: dt.datetime | None = None) -> tuple[str, str]:
    """The bounds of the last calendar month closed by the clock (the ledger closes it
    with its first record logged after it)."""
    moment = (now or dt.datetime.now(dt.UTC)) - GRACE
    first = moment.date().replace(day=1)
    start, end = month_bounds((first - dt.timedelta(days=1)).isoformat()[:7])
    return str(start), str(end)


def _check_month(start: str | None, end: str | None) -> None:
    """Donors' periods are calendar months: overlapping or shifted periods would let one
    report be subtracted from another."""
    given = start or end
    first, last = month_bounds(given[:7] if given else None)
    if start != first:
        raise ValidationError(
            "donor reports cover a calendar month: from must be its first day",
            code="unaligned_period",
            field="from",
        )
    if end != last:
        raise ValidationError(
            "donor reports cover a calendar month: to must be the last day of from's month",
            code="unaligned_period",
            field="to",
        )


def report_at(
    log: VerifiableLog, query: ReportQuery, anchor: Anchor | None = None
) -> dict[str, Any]:
    """The unsigned report at ``anchor`` (default: the latest), from either backend's log."""
    anchor = anchor or log.anchor()
    try:
        return compute_report(log.records(anchor), anchor=anchor.summary, query=query)
    except IntegrityError as exc:
        raise ReportError(str(exc)) from exc


def sign(report: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """The report with ``signer``'s organisation's signature over its canonical form."""
    return sign_report(report, signer)


def verify(
    report: dict[str, Any], consortium: Consortium, log: VerifiableLog, *, donor: bool = False
) -> str:
    """The organisation whose signature the report carries, once its figures are
    recomputed from ``log`` (and, with ``donor``, it is a donor release); ReportError
    otherwise."""
    return verify_report(report, consortium, log, donor=donor)


def compute(gateway: Gateway, query: ReportQuery) -> dict[str, Any]:
    """The unsigned report at the latest anchor (cached per anchor and query)."""
    with _fold_lock:
        fold = _advance(gateway.log, query.location_chars, saved_for(gateway, query))
        anchor = fold.anchor
        key = (canonical_json(anchor.summary).decode(), query)
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
        if query.on_lattice:
            cube = _cube(fold, query)
            tally = fold.aggregates.monthly.tally(query, cube)
        else:
            cube, tally = None, fold.aggregates.tally(query)
        report = report_of(tally, anchor=anchor.summary, query=query, cube=cube)
    with _cache_lock:
        _cache[key] = report
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return report


def _advance(log: VerifiableLog, location_chars: int, saved: SavedTotals | None = None) -> _Fold:
    """The log's aggregates at its latest anchor: only records new since the last call
    are folded in (the first time, those since the ``saved`` totals, or all of them;
    all of them too when the log is not the one folded)."""
    anchor = log.anchor()
    key = (id(log), location_chars)
    fold = _folds.get(key)
    same_log = fold is not None and fold.log() is log and _ledger(fold.anchor) == _ledger(anchor)
    try:
        if fold is None or not same_log or anchor.size < fold.anchor.size:
            fold = _resume(log, anchor, location_chars, saved)
        elif anchor.size > fold.anchor.size:
            fold.unsaved += fold.aggregates.add(log.records(anchor, since=fold.anchor))
            fold.anchor = anchor
    except IntegrityError as exc:
        _folds.pop(key, None)
        raise ReportError(str(exc)) from exc
    except BaseException:
        # What was read before the failure is folded in already, the anchor not moved:
        # kept, the next call would count it twice (and might save that). Read it again.
        _folds.pop(key, None)
        raise
    if saved is not None and fold.unsaved >= SAVE_EVERY:
        with contextlib.suppress(OSError):  # a cache: the reports stand without it
            saved.save(fold.aggregates, fold.anchor)
        fold.unsaved = 0
    _folds[key] = fold
    _folds.move_to_end(key)
    while len(_folds) > FOLDS:
        _folds.popitem(last=False)
    return fold


def _resume(
    log: VerifiableLog, anchor: Anchor, location_chars: int, saved: SavedTotals | None
) -> _Fold:
    """The fold from the saved totals when the log proves their anchor a prefix of its
    own (as it reads the records since); else from the start."""
    held = None if saved is None else saved.load()
    if held is not None and _ledger(held[1]) == _ledger(anchor) and held[1].size <= anchor.size:
        aggregates, since = held
        try:
            n = aggregates.add(log.records(anchor, since=since))
            return _Fold(weakref.ref(log), aggregates, anchor, n)
        except IntegrityError:
            pass  # another ledger's, or a history this log does not extend: fold it all
    aggregates = Aggregates(location_chars)
    aggregates.add(log.records(anchor))
    return _Fold(weakref.ref(log), aggregates, anchor, SAVE_EVERY)


def saved_for(gateway: Gateway, query: ReportQuery) -> SavedTotals | None:
    """Where the gateway keeps its totals for the query's location cut, signed by the
    first organisation it signs for (None: it signs for none, and saves nothing)."""
    if not gateway.signers:
        return None
    org = min(gateway.signers)
    path = state_dir(gateway) / f"report-totals-{query.location_chars}.bin"
    return SavedTotals(path, gateway.signers[org], query.location_chars)


def state_dir(gateway: Gateway) -> Path:
    """Where the gateway keeps its report totals (off the ledger)."""
    return gateway.workspace.root / "gateway"


def _ledger(anchor: Anchor) -> str:
    return AnchorName.of(anchor.summary).ledger


def _cube(fold: _Fold, query: ReportQuery) -> Cube:
    """The suppressed lattice of the query's month: computed once the month is closed,
    and kept, as later records cannot change it."""
    try:
        month = str(query.slice()[0])
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    try:
        return fold.aggregates.cube(month, query.k)
    except PeriodNotClosedError as exc:
        raise ValidationError(str(exc), code="period_not_closed", field="to") from None


def signed(gateway: Gateway, caller: Caller, query: ReportQuery) -> dict[str, Any]:
    """The report signed by the gateway acting for the caller's organisation."""
    signer = gateway.signers.get(caller.org)
    if signer is None:
        raise ForbiddenError(f"this gateway holds no key for {caller.org}", code="org_not_served")
    return sign(compute(gateway, query), signer)


def participants(
    consortium: Consortium, reporter: str, org: str | None
) -> tuple[list[Profile], Profile | None]:
    """Whom an IATI export names besides its reporter: as implementing, the organisation
    whose figures these are (every agency, for all organisations' figures); as funding,
    the reporter when it is a donor."""
    members = consortium.organisations
    implementing = [org] if org else [o for o, m in members.items() if m.role == "agency"]
    donor = consortium.organisation(reporter).role == "donor"
    funding = consortium.profile(reporter) if donor else None
    return [consortium.profile(o) for o in implementing], funding


def export(
    report: dict[str, Any],
    fmt: str,
    reporting: Profile,
    glide: str | None = None,
    first_day: str | None = None,
    *,
    implementing: Sequence[Profile] | None = None,
    funding: Profile | None = None,
) -> tuple[bytes, str, str]:
    """(body, media type, file suffix) of the report in one of :data:`FORMATS`;
    ``reporting`` names the organisation reporting (IATI), ``implementing`` and
    ``funding`` the other participants (:func:`ledger_gw.reports.iati.to_iati`),
    ``first_day`` is when an all-time report's figures begin (:func:`first_day`)."""
    if fmt not in FORMATS:
        raise ValidationError("unknown format", code="invalid_value", field="format")
    if glide is not None and not GLIDE.fullmatch(glide):  # written to the IATI file as given
        raise ValidationError(
            f"glide {glide[:40]!r} is not a GLIDE number (e.g. EQ-2023-000015-TUR)",
            code="invalid_value",
            field="glide",
        )
    mimetype, suffix = FORMATS[fmt]
    if fmt == "json":
        body = exports.to_json(report).encode()
    elif fmt in ("csv", "hxl"):
        body = exports.to_csv(report, hxl=fmt == "hxl").encode()
    else:
        start = report["query"]["start"] or first_day
        if start is None:
            raise ValidationError("the report has no figures to date", code="empty_report")
        body = to_iati(
            report,
            reporting=reporting,
            first_day=start,
            implementing=implementing,
            funding=funding,
            glide=glide,
        )
    return body, mimetype, suffix


def first_day(log: VerifiableLog, query: ReportQuery) -> str | None:
    """The first day of the month in which the query's figures begin (None: none yet);
    a month, so that no finer date leaves the reports."""
    with _fold_lock:
        day = _advance(log, query.location_chars).aggregates.first_day(query)
    return None if day is None else f"{day[:7]}-01"


def weekly_deliveries(
    gateway: Gateway, query: ReportQuery, weeks: int = 9, today: dt.date | None = None
) -> list[WeekPoint]:
    """Deliveries and people reached per ISO week (Monday to Sunday) within the query's
    period, the first and last weeks cut to ``from`` and ``to``; without ``from``, the
    ``weeks`` weeks up to ``to`` (default today); at most the last MAX_WEEKS.
    Complementary suppression across the weeks. For a query on the lattice, per calendar
    month instead (the lattice is suppressed as a whole)."""
    points = [
        _point(gateway, query, start, end, period)
        for start, end, period in series_periods(query, weeks, today)
    ]
    return points if query.on_lattice else protect_series(points)


def series_periods(
    query: ReportQuery, weeks: int = 9, today: dt.date | None = None
) -> list[tuple[dt.date, dt.date, str]]:
    """The periods :func:`weekly_deliveries` reports on (each one report's work): first
    and last day, and "week" or "month"."""
    last = _last_day(query, today)
    if query.on_lattice:
        return _months(query, last)
    this_monday = last - dt.timedelta(days=last.weekday())
    first = (
        dt.date.fromisoformat(query.start)
        if query.start
        else this_monday - dt.timedelta(days=7 * (weeks - 1))
    )
    first = max(first, this_monday - dt.timedelta(days=7 * (MAX_WEEKS - 1)))
    periods = []
    monday = first - dt.timedelta(days=first.weekday())
    while monday <= last:
        periods.append((max(monday, first), min(monday + dt.timedelta(days=6), last), "week"))
        monday += dt.timedelta(days=7)
    return periods


def _last_day(query: ReportQuery, today: dt.date | None) -> dt.date:
    if query.end:
        return dt.date.fromisoformat(query.end)
    return today or dt.datetime.now(dt.UTC).date()


def _point(
    gateway: Gateway, query: ReportQuery, start: dt.date, end: dt.date, period: str
) -> WeekPoint:
    """What a report of that one period says."""
    summary = compute(gateway, replace(query, start=start.isoformat(), end=end.isoformat()))
    figures = summary["summary"]
    return WeekPoint(
        start.isoformat(),
        end.isoformat(),
        figures["people_assisted"],
        figures["deliveries"],
        period,
    )


def _months(query: ReportQuery, last: dt.date) -> list[tuple[dt.date, dt.date, str]]:
    """The months from ``from`` (or the MONTHS_SHOWN up to ``to``) to ``to``."""
    first = (
        dt.date.fromisoformat(query.start)
        if query.start
        else _months_before(last.replace(day=1), MONTHS_SHOWN - 1)
    )
    periods = []
    month = first.replace(day=1)
    while month <= last:
        start, end = (dt.date.fromisoformat(str(d)) for d in month_bounds(f"{month:%Y-%m}"))
        periods.append((start, end, "month"))
        month = end + dt.timedelta(days=1)
    return periods


def _months_before(first_day: dt.date, months: int) -> dt.date:
    index = first_day.year * 12 + first_day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def protect_series(points: list[WeekPoint]) -> list[WeekPoint]:
    """Hide a second week when exactly one is hidden, so no week is a difference away."""
    if sum(p.suppressed for p in points) != 1:
        return points
    visible = [(p.deliveries, i) for i, p in enumerate(points) if p.deliveries]
    if not visible:
        return points
    _, i = min(visible)
    out = list(points)
    out[i] = replace(points[i], people=None, deliveries=None)
    return out
