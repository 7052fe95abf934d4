"""An agency's own report tells it nothing of another agency's grants that the contract
would not name to it: probe grants, padded past k with possible duplicates of its own,
read the same in its report whether or not another agency granted her that assistance.

Since the contract's first amendment a grant is flagged only as a duplicate of those
grants its granter may read; the agency's report, computed from the log with any period
and checkpoint it likes, must not count the others back in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger_gw.bootstrap import open_gateway
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.reports.accountability import report_from_log
from ledger_gw.reports.suppression import DEFAULT_K
from ledger_gw.services import reports
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import Workspace
from tests.support import events as ev

pytestmark = pytest.mark.slow

PROBER = Caller("t-b", "AGENCY-B", Role.AGENCY_READER)


def _probed(root: Path, granted_to_her: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """AGENCY-A grants her cash (or someone else, alike); AGENCY-B then pads its flagged
    grants to k-1 with a decoy of its own, grants her cash as a probe and revokes it.
    B's own report, as its gateway serves it and as a replay of the log recomputes it."""
    ws = Workspace.create(root / "ws", DEMO)
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    try:
        a = OrgClient(ledger, ws.signer("AGENCY-A"))
        b = OrgClient(ledger, ws.signer("AGENCY-B"))
        her = ev.pid()
        a.submit(ev.entitlement_granted(her if granted_to_her else ev.pid()))
        decoy = ev.pid()
        for _ in range(DEFAULT_K):  # its own overlaps, which the contract names to it
            b.submit(ev.entitlement_granted(decoy))
        probe = b.submit(ev.entitlement_granted(her))
        assert probe["possible_duplicate_of"] == []  # the contract tells it nothing
        b.submit(ev.entitlement_step("revoked", probe["entitlement_id"]))
        query = reports.ReportQuery(org="AGENCY-B")
        replayed = report_from_log(EmbeddedLog.of(ledger), query)
    finally:
        ledger.close()
    reports._folds.clear()
    gateway = open_gateway(
        GatewayConfig(directory=ws.root, offchain_url=f"sqlite:///{root}/o-{{org}}.db")
    )
    try:
        served = reports.compute(gateway, reports.query_for(gateway, PROBER))
        signed = reports.sign(served, gateway.signers[PROBER.org])
        assert reports.verify(signed, ws.consortium, gateway.log) == PROBER.org
    finally:
        gateway.close()
    return served, replayed


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    return {"summary": report["summary"], "tables": report["tables"]}


def test_probe_grants_read_alike_in_the_prober_s_own_report(tmp_path: Path) -> None:
    served, replayed = _probed(tmp_path / "granted", granted_to_her=True)
    other_served, other_replayed = _probed(tmp_path / "not", granted_to_her=False)
    assert _figures(served) == _figures(replayed)
    assert _figures(other_served) == _figures(other_replayed)
    # what the contract named to B: its decoy's k-1 duplicates, a count below k
    assert served["summary"]["duplicates_flagged"] is None
    assert _figures(served) == _figures(other_served)
