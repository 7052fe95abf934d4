"""A verifier is handed signed reports that lie, and must trust only what it pins itself.

A report signed under a CA of the signer's own choosing, a report anchored at another
log's checkpoint, figures changed under a kept signature are refused; a true report of an
older prefix still verifies after more is logged (it is true of that prefix), and
``report verify`` then says how far its figures reach, so that it cannot pass for the
ledger's figures now.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuthenticationError
from ledger_gw.reports.accountability import ReportError, ReportQuery
from ledger_gw.reports.signing import sign_report, verify_report
from ledger_gw.services.reports import report_at
from ledger_gw.workspace import Workspace
from tests.support import events as ev


@dataclass
class Ledger:
    ws: Workspace
    ledger: EmbeddedLedger
    log: EmbeddedLog

    def grant(self, n: int, org: str = "AGENCY-A") -> None:
        client = OrgClient(self.ledger, self.ws.signer(org))
        grants = [ev.entitlement_granted(ev.pid()) for _ in range(n)]
        assert [o.error for o in client.submit_many(grants) if o.error] == []

    def signed(self, org: str = "AGENCY-A", signer: Workspace | None = None) -> dict[str, Any]:
        """AGENCY-A's own report at the latest anchor, signed with ``signer``'s key."""
        report = report_at(self.log, ReportQuery(org=org))
        return sign_report(report, (signer or self.ws).signer(org))


def _ledger(ws: Workspace, url: str) -> Ledger:
    ledger = EmbeddedLedger(url, ws.consortium, ws.log_signer())
    return Ledger(ws, ledger, EmbeddedLog.of(ledger))


@pytest.fixture
def honest(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger in its directory, whose consortium lists no witness (quorum 0)."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    made = _ledger(ws, ws.ledger_url)
    yield made
    made.ledger.close()


def test_a_certificate_the_report_brings_is_no_trust_root(honest: Ledger, tmp_path: Path) -> None:
    """Another consortium with the same member names: its AGENCY-A's certificate is in the
    report, and it chains to a CA the verifier never pinned."""
    honest.grant(6)
    impostor = Workspace.create(tmp_path / "impostor", DEMO)
    forged = honest.signed(signer=impostor)
    assert forged["signature"]["org"] == "AGENCY-A"
    with pytest.raises(AuthenticationError):
        verify_report(forged, honest.ws.consortium, honest.log)
    assert verify_report(honest.signed(), honest.ws.consortium, honest.log) == "AGENCY-A"


def test_a_checkpoint_of_another_log_is_refused(honest: Ledger, tmp_path: Path) -> None:
    """A second log under the same key and origin (its operator's), of the same size and
    a history of its own: a true report of it is no report of the verifier's ledger."""
    honest.grant(6)
    other = _ledger(honest.ws, f"sqlite:///{tmp_path / 'other.db'}")
    try:
        other.grant(6)
        theirs = other.signed()
        assert theirs["anchor"]["tree_size"] == honest.log.anchor().size
        assert verify_report(theirs, honest.ws.consortium, other.log) == "AGENCY-A"
        with pytest.raises(ReportError, match="root at the anchored size differs"):
            verify_report(theirs, honest.ws.consortium, honest.log)
    finally:
        other.ledger.close()


def _one_more(part: str, name: str) -> Any:
    def change(report: dict[str, Any]) -> None:
        report[part][name] += 1

    return change


def _table_total(report: dict[str, Any]) -> None:
    report["tables"]["referrals"]["referrals"]["total"] = 1


@pytest.mark.parametrize(
    "change",
    [
        _one_more("summary", "entitlements_granted"),
        _one_more("anchor", "tree_size"),
        _one_more("query", "k"),
        _table_total,
    ],
    ids=["summary", "anchor", "query", "table"],
)
def test_figures_changed_under_a_kept_signature_are_refused(honest: Ledger, change: Any) -> None:
    honest.grant(6)
    changed = copy.deepcopy(honest.signed())
    change(changed)
    with pytest.raises(AuthenticationError):
        verify_report(changed, honest.ws.consortium, honest.log)


def test_a_report_of_an_older_prefix_says_how_far_its_figures_reach(
    honest: Ledger, tmp_path: Path
) -> None:
    """Six grants, a signed report, then six more: the report is still true of the prefix
    it names and verifies, but ``report verify`` must not let it pass for the ledger's
    figures now."""
    honest.grant(6)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(honest.signed()))
    anchored = honest.log.anchor().size
    verify = ["report", "verify", "--dir", str(honest.ws.root)]
    verify += ["--consortium", str(honest.ws.consortium_file), str(path)]
    runner = CliRunner()
    now = runner.invoke(cli, verify)
    assert now.exit_code == 0, now.output
    assert f"as of size {anchored}, the ledger's latest witnessed anchor" in now.output
    honest.grant(6)
    latest = honest.log.anchor().size
    later = runner.invoke(cli, verify)
    assert later.exit_code == 0, later.output
    assert later.output.startswith("report verifies: signed by AGENCY-A")
    assert (
        f"as of size {anchored}: the ledger's latest witnessed anchor is size {latest}"
        in later.output
    )
    report = json.loads(path.read_text())
    assert report["summary"]["entitlements_granted"] == 6  # true of its prefix, not of now
