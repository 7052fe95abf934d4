"""A rotated-out key's entry is never dated far before one logged earlier: the ledger
refuses what verify would, even when its own clock steps back, so that an honest ledger
always verifies and a retired key cannot date an entry back past later ones. Current
keys are not held to it: a clock stepped back costs them nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import ORDER_SLACK, EmbeddedLedger
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import verify_url


def test_a_clock_stepped_back_lets_no_rotated_out_key_sign(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", DEMO)
    old = ws.signer("AGENCY-A")
    rotation = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    ws = ws.rotate_key("AGENCY-A", at=rotation)
    now = [rotation + dt.timedelta(minutes=30)]
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: now[0])
    try:
        new_a = OrgClient(ledger, ws.signer("AGENCY-A"), clock=lambda: now[0])
        assert new_a.submit_many([ev.independent(0)])[0].error is None
        now[0] = rotation - dt.timedelta(minutes=5)  # an NTP step back, past the slack
        assert now[0] < rotation + dt.timedelta(minutes=30) - ORDER_SLACK
        (refused,) = OrgClient(ledger, old, clock=lambda: now[0]).submit_many([ev.independent(1)])
        assert refused.error is not None
        assert refused.error.code == "retired_certificate"
        assert "before the log's latest entry" in str(refused.error)
        c = OrgClient(ledger, ws.signer("AGENCY-C"), clock=lambda: now[0])
        assert c.submit_many([ev.independent(2)])[0].error is None  # a current key: taken
    finally:
        ledger.close()
    assert verify_url(ws.ledger_url, ws.consortium).size == 2
