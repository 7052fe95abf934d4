"""A donor attacks what one closed month's releases disclose: every slice of the month
(each organisation or all, each programme or all) in every format a donor may download.

A figure hidden as a complement and one hidden because it is below k must look alike in
everything a release publishes, the figures taken over them included; each format
hides the same figures; and amounts in two currencies are never added together.

The events are logged on the ledger's own (test) clock, in a month after this one (the
members' certificates are valid from today), and a record in the month after closes it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from chaincode.fields import format_amount
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.interfaces import Record
from ledger_gw.reports import exports
from ledger_gw.reports.accountability import (
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
    report_of,
)
from ledger_gw.reports.aggregates import Aggregates
from ledger_gw.reports.release import DONOR_K
from ledger_gw.services import reports
from ledger_gw.workspace import Workspace
from tests.support import events as ev

XSD = Path(__file__).resolve().parents[2] / ".." / "shared" / "schemas" / "iati-2.03"
K = DONOR_K
ORGS = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
PROGRAMMES = ("MPCA-2026", "HEALTH-ACCESS")


def _month(offset: int) -> str:
    today = dt.datetime.now(dt.UTC)
    n = today.year * 12 + today.month - 1 + offset
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


MONTH, NEXT = _month(1), _month(2)
PERIOD = {"start": f"{MONTH}-01", "end": f"{NEXT}-28"}
# (org, programme, location, modality, currency, amount): people, one delivery each
PAID = (
    ("AGENCY-A", "MPCA-2026", "LB11", "cash", "USD", "50", 12),
    ("AGENCY-A", "MPCA-2026", "LB21", "cash", "USD", "50", 3),
    ("AGENCY-A", "HEALTH-ACCESS", "LB11", "voucher", "USD", "20", 7),
    ("AGENCY-B", "MPCA-2026", "LB11", "cash", "USD", "40", 9),
    ("AGENCY-B", "MPCA-2026", "LB11", "cash", "EUR", "35", 1),  # one person paid in EUR
    ("AGENCY-B", "HEALTH-ACCESS", "LB21", "voucher", "USD", "25", 6),
    ("AGENCY-C", "HEALTH-ACCESS", "LB11", "voucher", "USD", "30", 2),
)


@dataclass
class World:
    ws: Workspace
    log: EmbeddedLog
    records: list[Record]
    anchor: dict[str, Any]


Clock = list[dt.datetime]


def _refer(
    client: Callable[[str], OrgClient],
    clock: Clock,
    sender: str,
    receiver: str,
    sector: str,
    steps: list[str],
) -> None:
    """One referral from ``sender`` per entry of ``steps``, taken through them (each
    step by whoever takes it: the receiver accepts, declines and completes, the sender
    cancels)."""
    for path in steps:
        referral = ev.referral_created(ev.pid(), receiver, sector=sector)
        client(sender).submit(referral)
        for step in path.split(",") if path else []:
            clock[0] += dt.timedelta(hours=2)
            by = sender if step == "cancelled" else receiver
            client(by).submit(ev.referral_step(step, referral["referral_id"]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ws = Workspace.create(tmp_path_factory.mktemp("report-disclosure") / "ws", DEMO)
    now = [dt.datetime.fromisoformat(f"{MONTH}-03T09:00:00+00:00")]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])

    def client(org: str) -> OrgClient:
        return OrgClient(ledger, ws.signer(org), clock=lambda: now[0])

    for org, programme, location, modality, currency, amount, people in PAID:
        grants = [
            ev.entitlement_granted(
                ev.pid(),
                programme=programme,
                modality=modality,
                location=location,
                currency=currency,
                **PERIOD,
            )
            for _ in range(people)
        ]
        paid = [
            ev.delivery(g["entitlement_id"], amount, currency=currency, date=f"{MONTH}-05")
            for g in grants
        ]
        for batch in (grants, paid):
            assert [o.error for o in client(org).submit_many(batch) if o.error] == []
    # Referrals completed: six of AGENCY-A's, three of AGENCY-B's (below k), none of C's.
    for sender, receiver, n in (("AGENCY-A", "AGENCY-B", 6), ("AGENCY-B", "AGENCY-C", 3)):
        sent = [ev.referral_created(ev.pid(), receiver) for _ in range(n)]
        assert [o.error for o in client(sender).submit_many(sent) if o.error] == []
        now[0] += dt.timedelta(hours=20)
        accepted = [ev.referral_step("accepted", r["referral_id"]) for r in sent]
        assert [o.error for o in client(receiver).submit_many(accepted) if o.error] == []
        for i, referral in enumerate(sent):
            now[0] += dt.timedelta(hours=3 + i)
            client(receiver).submit(ev.referral_step("completed", referral["referral_id"]))
    now[0] = dt.datetime.fromisoformat(f"{NEXT}-01T01:00:00+00:00")
    client("AGENCY-A").submit(ev.entitlement_granted(ev.pid(), **PERIOD))  # the month closes
    log = EmbeddedLog.of(ledger)
    anchor = log.anchor()
    yield World(ws, log, list(log.records(anchor)), anchor.summary)
    ledger.close()


def _slices() -> Iterator[tuple[str | None, str | None]]:
    for org in (None, *ORGS):
        for programme in (None, *PROGRAMMES):
            yield org, programme


@pytest.fixture(scope="module")
def releases(world: World) -> dict[tuple[str | None, str | None], dict[str, Any]]:
    """Every release of the month, as ``report verify`` recomputes it."""
    cube = build_cube(world.records, K, MONTH)
    start, end = month_bounds(MONTH)
    return {
        s: compute_report(
            world.records,
            anchor=world.anchor,
            query=ReportQuery(*s, start, end, K, on_lattice=True),
            cube=cube,
        )
        for s in _slices()
    }


def test_a_median_never_tells_a_hidden_count_of_completions_from_a_small_one(
    releases: dict[tuple[str | None, str | None], dict[str, Any]],
) -> None:
    """AGENCY-B completed 3 referrals (below k), so its count is hidden, and AGENCY-A's 6
    with it: all organisations' 9 and AGENCY-C's 0 would give either away. The median
    days to completion is taken over that same count: published beside AGENCY-A's
    hidden 6 and not beside AGENCY-B's 3, it would tell the donor which hidden count is
    below k."""
    for s, report in releases.items():
        summary = report["summary"]
        completed = report["tables"]["referrals"]["referrals"]["column_totals"][2]
        assert (summary["referrals_completed"] is None) == (completed is None), s
        if summary["referrals_completed"] is None:
            assert summary["median_days_to_completion"] is None, s
            assert "median_days_to_completion" in report["suppressed"], s
    a, b = releases[("AGENCY-A", None)], releases[("AGENCY-B", None)]
    assert a["summary"]["referrals_completed"] is None  # a complement of 6 ...
    assert b["summary"]["referrals_completed"] is None  # ... beside the 3 it protects
    assert a["summary"]["median_days_to_completion"] is None
    everyone = releases[(None, None)]["summary"]  # 9: published, and its median with it
    assert everyone["referrals_completed"] == 9
    assert everyone["median_days_to_completion"] is not None


def test_csv_hxl_and_iati_hide_what_json_hides(
    world: World, releases: dict[tuple[str | None, str | None], dict[str, Any]]
) -> None:
    """Each format is the same release: a figure JSON hides is an empty CSV cell (never
    a 0) and no IATI transaction, and every IATI file is valid IATI 2.03."""
    schema = None
    if (XSD / "iati-activities-schema.xsd").exists():
        schema = etree.XMLSchema(etree.parse(str(XSD / "iati-activities-schema.xsd")))
    donor = world.ws.consortium.profile("DONOR-Y")
    for s, report in releases.items():
        figures = exports.records(report)
        for hxl in (False, True):
            rows = list(csv.reader(io.StringIO(exports.to_csv(report, hxl=hxl))))
            body = rows[2:] if hxl else rows[1:]
            assert len(body) == len(figures), s
            for figure, row in zip(figures, body, strict=True):
                value = row[[key for key, _, _ in exports.COLUMNS].index("value")]
                assert value == ("" if figure["value"] is None else str(figure["value"])), s
        implementing, funding = reports.participants(world.ws.consortium, "DONOR-Y", s[0])
        xml, _, _ = reports.export(
            report, "iati", donor, implementing=implementing, funding=funding
        )
        doc = etree.fromstring(xml)
        if schema is not None:
            assert schema.validate(doc), (s, schema.error_log)
        amounts = report["tables"]["reached"]["amounts"]
        published = sorted(
            (currency, modality, total)
            for currency, table in amounts.items()
            for modality, total in zip(
                report["tables"]["reached"]["columns"], table["column_totals"], strict=True
            )
            if total is not None
        )
        transactions = sorted(
            (
                t.find("value").get("currency"),
                t.findtext("description/narrative").split(" ", 1)[0],
                t.findtext("value"),
            )
            for t in doc.iter("transaction")
        )
        assert transactions == published, s


def test_amounts_in_two_currencies_are_never_added(
    releases: dict[tuple[str | None, str | None], dict[str, Any]],
) -> None:
    """AGENCY-B paid one person in EUR beside nine in USD, in the same cell: each
    currency is its own table, and the one EUR payment is never published."""
    for s, report in releases.items():
        amounts = report["tables"]["reached"]["amounts"]
        for currency, table in amounts.items():
            expected = sum(
                (
                    Decimal(amount) * people
                    for org, programme, _, _, cur, amount, people in PAID
                    if cur == currency and s[0] in (None, org) and s[1] in (None, programme)
                ),
                Decimal(0),
            )
            assert table["total"] in (None, format_amount(expected)), s
        if "EUR" in amounts:
            eur = amounts["EUR"]
            shown = [*eur["row_totals"], *eur["column_totals"], eur["total"]]
            shown += [c for row in eur["cells"] for c in row]
            assert "35" not in shown, s  # the one person's payment


@pytest.fixture(scope="module")
def cancelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """AGENCY-A's month of referrals: in health, 10 completed and 2 accepted then
    cancelled; in shelter, 7 open, 15 accepted, 10 completed and 6 declined."""
    ws = Workspace.create(tmp_path_factory.mktemp("report-cancelled") / "ws", DEMO)
    now = [dt.datetime.fromisoformat(f"{MONTH}-03T09:00:00+00:00")]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])

    def client(org: str) -> OrgClient:
        return OrgClient(ledger, ws.signer(org), clock=lambda: now[0])

    done, dropped = "accepted,completed", "accepted,cancelled"
    _refer(client, now, "AGENCY-A", "AGENCY-B", "health", [done] * 10 + [dropped] * 2)
    shelter = [""] * 7 + ["accepted"] * 15 + [done] * 10 + ["declined"] * 6
    _refer(client, now, "AGENCY-A", "AGENCY-B", "shelter", shelter)
    now[0] = dt.datetime.fromisoformat(f"{NEXT}-01T01:00:00+00:00")
    client("AGENCY-A").submit(ev.entitlement_granted(ev.pid(), **PERIOD))  # the month closes
    log = EmbeddedLog.of(ledger)
    anchor = log.anchor()
    yield World(ws, log, list(log.records(anchor)), anchor.summary)
    ledger.close()


def test_referrals_cancelled_after_acceptance_are_no_count_below_k_by_subtraction(
    cancelled: World,
) -> None:
    """No release shows how many accepted referrals were cancelled after, and yet the
    referrals accepted less the accepted and completed columns are that count: 2 of
    AGENCY-A's, below k, unless one of the three is hidden. The gateway's running
    totals publish what the replay does."""
    cube = build_cube(cancelled.records, K, MONTH)
    folded = Aggregates()
    folded.add(cancelled.records)
    served = folded.cube(MONTH, K)
    start, end = month_bounds(MONTH)
    for s in _slices():
        query = ReportQuery(*s, start, end, K, on_lattice=True)
        report = compute_report(cancelled.records, anchor=cancelled.anchor, query=query, cube=cube)
        tally = folded.monthly.tally(query, served)
        assert report_of(tally, anchor=cancelled.anchor, query=query, cube=served) == report
        columns = report["tables"]["referrals"]["referrals"]["column_totals"]
        accepted, completed = columns[1], columns[2]
        ever = report["summary"]["referrals_accepted"]
        if None not in (ever, accepted, completed):
            assert not 0 < ever - accepted - completed < K, (s, ever, accepted, completed)
