"""A log node holds the log key, and witnesses cosign any tree that extends what they
cosigned before: a node that appends an entry naming a member's certificate, signed by
no member, gets it cosigned. An auditor's gateway reading the log checks every entry's
signature, not only the first of each certificate it meets: the forged entry is refused,
for a report's records and a bundle alike."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from chaincode.stub import Identity
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.bootstrap import remote_ledger, verifiable_log
from ledger_gw.embedded.ledger import EmbeddedLedger, Verdict
from ledger_gw.errors import IntegrityError
from ledger_gw.remote.ledger import RemoteLog
from ledger_gw.topology import processes
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.workspace import Workspace
from tests.integration.behaviour.conftest import LogNodeSite, cosigned, running_log_node
from tests.support import events as ev

AUDITOR = "AUDITOR-X"


def _append_unsigned(site: LogNodeSite, event: dict[str, object]) -> None:
    """What the node's own appender would write for AGENCY-A, with a signature of AGENCY-A's
    key over other bytes: the node process stopped, its ledger appended to directly."""
    site.service.stop()
    ws = Workspace.load(site.node)
    agency = site.operator.signer("AGENCY-A")
    signed = sign_proposal(agency, "submit", [event])
    forged = SignedTransaction(signed.proposal, agency.sign(b"another proposal"))
    ledger = EmbeddedLedger(f"sqlite:///{site.node / 'ledger.db'}", ws.consortium, ws.log_signer())
    try:
        ledger.append_admitted([Verdict(forged, Identity("AGENCY-A", "agency"))])
    finally:
        ledger.close()
    port = int(site.url.rsplit(":", 1)[1])
    site.service = processes.start_node(site.node, port)  # it offers the witnesses its head


def test_an_entry_signed_by_no_member_is_refused_after_others_of_its_certificate(
    tmp_path: Path,
) -> None:
    with running_log_node(tmp_path) as site:
        backend = site.backend()
        honest = [ev.entitlement_granted(ev.pid()) for _ in range(3)]
        try:
            for event in honest:
                backend.client("AGENCY-A").submit(event)
            cosigned(verifiable_log(backend.ledger, reader="AGENCY-A"), site.operator.consortium)
        finally:
            backend.close()
        ws = Workspace.load(site.roots[AUDITOR])
        config = replace(site.config(AUDITOR), log_url=site.url)
        ledger = remote_ledger(ws, config, AUDITOR, ws.signer(AUDITOR))
        try:
            log = RemoteLog(ledger)
            read = list(log.records(log.anchor()))  # AGENCY-A's certificate known from here on
            assert {r.event.get("event_id") for r in read} >= {e["event_id"] for e in honest}
            forged = ev.entitlement_granted(ev.pid())
            _append_unsigned(site, forged)
            deadline = time.monotonic() + 30
            while (anchor := log.anchor()).size <= len(read):
                assert time.monotonic() < deadline, "the witnesses never cosigned the forgery"
                time.sleep(0.2)
            with pytest.raises(IntegrityError, match="not signed by a member") as refused:
                list(log.records(anchor))
            assert refused.value.code == "log_node_entries_forged"
            with pytest.raises(IntegrityError, match="not signed by a member"):
                build_bundle(
                    log, ws.consortium, kind="entitlement", subject=forged["entitlement_id"]
                )
        finally:
            ledger.close()
