"""The log's entries are dated in its order, within twice the clock skew: the ledger
refuses what verify would, even when its own clock steps back, so that an honest ledger
always verifies and a retired key cannot date an entry back past later ones."""

from __future__ import annotations

import datetime as dt

from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import ORDER_SLACK, EmbeddedLedger
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeLedger, verify_url


def test_a_clock_stepped_back_past_the_slack_waits_to_catch_up(
    workspace: Workspace, make_ledger: MakeLedger, ledger_url: str
) -> None:
    now = [dt.datetime(2027, 1, 15, 12, 30, tzinfo=dt.UTC)]
    ledger: EmbeddedLedger = make_ledger(clock=lambda: now[0])
    client = OrgClient(ledger, workspace.signer("AGENCY-A"), clock=lambda: now[0])
    assert client.submit_many([ev.independent(0)])[0].error is None
    now[0] -= ORDER_SLACK + dt.timedelta(minutes=4)  # an NTP step back, say
    refused = client.submit_many([ev.independent(1), ev.independent(2)])
    assert [o.error.code if o.error else None for o in refused] == ["clock_skew"] * 2
    assert ledger.size() == 1
    now[0] += dt.timedelta(minutes=5)  # within the slack again
    assert client.submit_many([ev.independent(3)])[0].error is None
    # Another process, its clock 13 minutes behind: a time 9 minutes before its own is
    # within the skew it allows, and still over the slack before the entry on disk.
    behind = now[0] - dt.timedelta(minutes=13)
    reopened: EmbeddedLedger = make_ledger(clock=lambda: behind)
    late = OrgClient(
        reopened, workspace.signer("AGENCY-A"), clock=lambda: behind - dt.timedelta(minutes=9)
    )
    (outcome,) = late.submit_many([ev.independent(4)])
    assert outcome.error is not None
    assert outcome.error.code == "clock_skew"
    assert "latest entry" in str(outcome.error)
    assert verify_url(ledger_url, workspace.consortium).size == 2
