"""A ledger that crossed an amendment of the contract verifies whole, each entry replayed
under the rules of its own time; and its reports count every overlap on both sides, where
after the amendment the contract names to a granter only the grants it may read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import time_machine

from chaincode.amendments import CONSENT_BOUND
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.reports.accountability import ReportQuery, report_from_log
from ledger_gw.reports.aggregates import Aggregates
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import verify_url

IN_FORCE = dt.datetime.fromisoformat(CONSENT_BOUND.replace("Z", "+00:00"))


def _consortium(tmp_path: Path) -> Workspace:
    """The demo consortium, its members' certificates issued before the amendment (a day
    before their making), whatever today's date: the tests sign on either side of it."""
    with time_machine.travel(IN_FORCE - dt.timedelta(hours=1), tick=False):
        return Workspace.create(tmp_path / "ws", DEMO)


def test_a_ledger_across_the_amendment_verifies_and_reports_every_overlap(
    tmp_path: Path,
) -> None:
    ws = _consortium(tmp_path)
    now = [IN_FORCE - dt.timedelta(minutes=1)]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    try:
        a, b, c = (
            OrgClient(ledger, ws.signer(org), clock=lambda: now[0])
            for org in ("AGENCY-A", "AGENCY-B", "AGENCY-C")
        )
        person = ev.pid()
        first = a.submit(ev.entitlement_granted(person))["entitlement_id"]
        before = c.submit(ev.entitlement_granted(person))
        assert before["possible_duplicate_of"] == [first]
        now[0] = IN_FORCE + dt.timedelta(minutes=1)
        after = b.submit(ev.entitlement_granted(person))
        assert after["possible_duplicate_of"] == []
        size = ledger.size()
    finally:
        ledger.close()

    assert verify_url(ws.ledger_url, ws.consortium).size == size == 3

    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    try:
        log = EmbeddedLog.of(ledger)
        totals = Aggregates()
        totals.add(log.records(log.anchor()))
        flagged = totals.tally(ReportQuery()).duplicates_of
        assert flagged == {
            before["entitlement_id"]: [first],
            after["entitlement_id"]: sorted([first, before["entitlement_id"]]),
        }
        report = report_from_log(log, ReportQuery(k=1))
        assert report["summary"]["duplicates_flagged"] == 2
    finally:
        ledger.close()


def test_a_member_cannot_date_a_probe_back_into_the_old_rules(tmp_path: Path) -> None:
    """An hour after the amendment, AGENCY-C signs a probe grant dated a minute before it,
    when every overlap was named: the ledger takes no transaction dated further than
    ten minutes from its own clock."""
    ws = _consortium(tmp_path)
    now = [IN_FORCE + dt.timedelta(hours=1)]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    try:
        person = ev.pid()
        OrgClient(ledger, ws.signer("AGENCY-A"), clock=lambda: now[0]).submit(
            ev.entitlement_granted(person)
        )
        back = OrgClient(
            ledger, ws.signer("AGENCY-C"), clock=lambda: IN_FORCE - dt.timedelta(minutes=1)
        )
        (probe,) = back.submit_many([ev.entitlement_granted(person)])
        assert probe.error is not None
        assert probe.error.code == "clock_skew"
        assert ledger.size() == 1
    finally:
        ledger.close()
