"""A checkpoint the appending process acknowledged and the witnesses had not cosigned
when it stopped (killed, or the witnesses down) is offered to them as soon as the next
process that appends starts, not at its next append: a quiet night would otherwise
leave it uncosigned for hours, and members' gateways take an append that long
uncosigned for one the node hides (remote.receipts)."""

from __future__ import annotations

import time

from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.witnessing import endpoints
from ledger_gw.log.note import has_cosigned
from ledger_gw.node.service import LogNode
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses

WAIT_S = 30.0


def _left_uncosigned(workspace: Workspace, ledger_url: str) -> None:
    """A process that appended and stopped before pushing anything."""
    stopped = EmbeddedLedger(ledger_url, workspace.consortium, workspace.log_signer())
    try:
        OrgClient(stopped, workspace.signer("AGENCY-A")).submit(ev.independent(1))
    finally:
        stopped.close()


def _next_process(workspace: Workspace, ledger_url: str) -> EmbeddedLedger:
    """The ledger as the next process that appends opens it, witnesses named."""
    return EmbeddedLedger(
        ledger_url,
        workspace.consortium,
        workspace.log_signer(),
        witnesses=endpoints(workspace.consortium),
    )


def _cosigners(ledger: EmbeddedLedger) -> set[str]:
    _, note = ledger.log.sized_checkpoint(None)
    witnesses = endpoints(ledger.consortium)
    return {w.org_id for w in witnesses if has_cosigned(note, w.verifier)}


def test_a_log_node_offers_what_it_left_uncosigned_when_it_starts(
    workspace: Workspace, witnesses: TestWitnesses, ledger_url: str
) -> None:
    _left_uncosigned(workspace, ledger_url)
    ledger = _next_process(workspace, ledger_url)
    node = LogNode(ledger)
    try:
        assert _cosigners(ledger) == set()
        deadline = time.monotonic() + WAIT_S
        while _cosigners(ledger) != {"AGENCY-A", "AUDITOR-X"}:
            assert time.monotonic() < deadline, "the restarted node never offered it"
            time.sleep(0.1)
        assert ledger.size() == 1  # nothing appended meanwhile
    finally:
        node.close()


def test_settling_the_witnesses_offers_them_the_latest_checkpoint(
    workspace: Workspace, witnesses: TestWitnesses, ledger_url: str
) -> None:
    _left_uncosigned(workspace, ledger_url)
    ledger = _next_process(workspace, ledger_url)
    try:
        assert ledger.settle_witnesses(WAIT_S)
        assert _cosigners(ledger) == {"AGENCY-A", "AUDITOR-X"}
    finally:
        ledger.close()
