"""Only agencies record events; the contract refuses a donor's or an auditor's. A log
operator who appends one past the contract (its appender saying the signer is an
agency) gets it into a Merkle tree the witnesses cosign, with a valid signature under
the member's own certificate: the offline verifier, replaying the contract's rules,
refuses it by the role that certificate names."""

from __future__ import annotations

from pathlib import Path

from chaincode.stub import Identity
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger, Verdict
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.embedded.witnessing import Cosigner, endpoints
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses


def test_an_event_a_donor_signed_is_refused_though_the_log_holds_it(
    audit_ws: Workspace, audit_witnesses: TestWitnesses, tmp_path: Path
) -> None:
    ws = audit_ws
    ledger = EmbeddedLedger(f"sqlite:///{tmp_path / 'ledger.db'}", ws.consortium, ws.log_signer())
    audit_witnesses.forget()  # a new log to them
    try:
        honest = ev.referral_created(ev.pid())
        OrgClient(ledger, ws.signer("AGENCY-A")).submit(honest)
        donor = ws.signer("DONOR-Y")
        forged = ev.referral_created(ev.pid())
        tx = sign_proposal(donor, "submit", [forged])  # the donor's own key and certificate
        ledger.append_admitted([Verdict(tx, Identity("DONOR-Y", "agency"))])  # the lie
        assert ledger.size() == 2
        asked = [w for w in endpoints(ws.consortium) if w.org_id in ("AGENCY-A", "AGENCY-B")]
        Cosigner(ledger.engine, ws.consortium).ask(asked, None)
        log = EmbeddedLog.of(ledger)
        bundles = {
            name: build_bundle(log, ws.consortium, kind="referral_chain", subject=e["referral_id"])
            for name, e in (("honest", honest), ("forged", forged))
        }
    finally:
        ledger.close()
    assert verify_bundle(bundles["honest"], trusted_consortium=ws.consortium).ok
    report = verify_bundle(bundles["forged"], trusted_consortium=ws.consortium)
    assert report.codes == {"role_forbidden"}
    assert report.events[0].signature_ok  # a valid signature, of a member that records nothing
