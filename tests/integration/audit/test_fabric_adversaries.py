"""Fabric bundles forged by those who hold some of the keys: a dishonest orderer, a
member that signs for itself, a verifier handed a bundle that brings its own roots.

Blocks are made here (tests/support/fabric_blocks.py) and the members' witnesses attest
whatever the stand-in peer holds, so each check is shown to hold on its own, not only
because honest peers would have refused the transaction.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from ledger_gw import protos as pb
from ledger_gw.audit.fabric_evidence import POSITION_STRIDE
from ledger_gw.audit.verify import BundleReport
from ledger_gw.fabric.proposal import FabricSigner
from ledger_gw.identity import cert_pem, issue_ca, issue_member, load_signing_key
from tests.integration.audit.test_fabric_bundle import FabricScenario, StandInPeer, pinned
from tests.integration.audit.test_fabric_bundle import fabric as fabric  # the fixture
from tests.integration.audit.test_fabric_bundle_config import _bundle, _event
from tests.support import events as ev
from tests.support import fabric_blocks as fb
from tests.support.witnesses import TestWitnesses

__all__ = ["fabric"]

Bundle = dict[str, Any]


def _verify(f: FabricScenario, bundle: Bundle) -> BundleReport:
    return pinned(f, bundle, genesis_hash=f.genesis_hash)


def _messages(report: BundleReport) -> str:
    return " | ".join(x.message for x in report.failures)


def _rogue(org_id: str) -> tuple[str, FabricSigner]:
    """A CA of the attacker's, and a certificate it issued in ``org_id``'s name."""
    ca_key, ca_cert = issue_ca(org_id)
    key, cert = issue_member(ca_key, ca_cert, org_id, "agency", f"rogue.{org_id.lower()}")
    return cert_pem(ca_cert), FabricSigner(org_id, cert_pem(cert), key)


def _endorsed(
    channel: fb.Channel, peer: StandInPeer, endorsers: tuple[str, ...]
) -> tuple[str, int]:
    """AGENCY-A's referral, endorsed by ``endorsers`` (signers of ``channel``)."""
    event = ev.referral_created(ev.pid())
    result = {"referral_id": event["referral_id"], "state": "created"}
    tx = fb.endorser_tx(
        channel, "AGENCY-A", event, result, dt.datetime.now(dt.UTC), endorsers=endorsers
    )
    number = channel.order([tx.envelope])
    peer.where[tx.tx_id] = number
    peer.records.append({"event": event, "tx_id": tx.tx_id, "pid": event["pid"]})
    return tx.tx_id, number


def _two_roots(config: Any, real_ca: str, rogue_ca: str) -> None:
    """AGENCY-B's MSP in ``config`` with the rogue CA as a second root beside its own."""
    fabric_msp = pb.msp_config.FabricMSPConfig(
        name="AGENCY-B", root_certs=[real_ca.encode(), rogue_ca.encode()]
    )
    group = config.channel_group.groups["Application"].groups["AGENCY-B"]
    group.values["MSP"].value = pb.msp_config.MSPConfig(
        type=0, config=fabric_msp.SerializeToString()
    ).SerializeToString()


# -- a dishonest orderer --------------------------------------------------------------------


def test_an_orderer_cannot_add_a_root_to_a_members_msp(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """The orderer alone cuts an update that keeps AGENCY-B's CA but adds one of its own
    beside it, then endorses AGENCY-A's event as AGENCY-B with a certificate that CA
    issued: the policy's two agencies, from one agency and the orderer. The consortium
    file names AGENCY-B's one CA; a root it does not name vouches for nobody."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    rogue_ca, rogue_b = _rogue("AGENCY-B")
    real_ca = cert_pem(fabric.ws.consortium.organisations["AGENCY-B"].ca_cert)

    number = channel.update_config(lambda config: _two_roots(config, real_ca, rogue_ca))
    channel.signers["AGENCY-B"] = rogue_b
    tx_id, _ = _endorsed(channel, peer, ("AGENCY-A", "AGENCY-B"))
    report = _verify(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id]))
    assert not any(e.included for e in report.events)
    assert report.codes == {"unknown_identity"}
    assert "not issued by AGENCY-B's CA" in _messages(report)
    assert number < report.events[0].position // POSITION_STRIDE


def test_a_genesis_whose_member_msp_has_another_root_is_refused(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """The same extra root, already in a genesis block the bundle brings along (and the
    auditor did not pin): the consortium file still decides whose CA AGENCY-B is."""
    ws = fabric.ws
    channel = fb.make_channel(ws)
    config = fb.config_of(channel.genesis)
    rogue_ca, rogue_b = _rogue("AGENCY-B")
    real_ca = cert_pem(ws.consortium.organisations["AGENCY-B"].ca_cert)
    _two_roots(config, real_ca, rogue_ca)
    data = pb.common.Envelope(
        payload=pb.common.Payload(
            data=pb.configtx.ConfigEnvelope(config=config).SerializeToString()
        ).SerializeToString()
    ).SerializeToString()
    channel.genesis = fb.make_block(0, b"", [data], None, b"\x00")
    channel.signers["AGENCY-B"] = rogue_b
    peer = StandInPeer(channel, [])
    tx_id, _ = _endorsed(channel, peer, ("AGENCY-A", "AGENCY-B"))
    report = pinned(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id]))
    assert not any(e.included for e in report.events)
    assert report.codes == {"unknown_identity"}


def test_a_block_signed_by_a_certificate_the_orderers_ca_never_issued_fails(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """A certificate in the orderer organisation's name from another CA (another
    channel's orderer, say) signs the next block."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    channel.signers["ORDERER"] = _rogue("ORDERER")[1]
    tx_id, _ = _event(channel, peer)
    report = _verify(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id]))
    assert report.codes == {"bad_orderer_signature"}
    assert "not issued by ORDERER's CA" in _messages(report)


# -- a member endorsing for itself ----------------------------------------------------------


def test_one_agency_endorsing_twice_counts_once(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """Two endorsements by AGENCY-A (as two of its peers would give) make one
    organisation of the two the policy asks for."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    ca_key = load_signing_key(fabric.ws.root / "orgs" / "AGENCY-A" / "ca.key")
    ca_cert = fabric.ws.consortium.organisations["AGENCY-A"].ca_cert
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", "peer1.agency-a")
    channel.signers["AGENCY-A-PEER1"] = FabricSigner("AGENCY-A", cert_pem(cert), key)
    tx_id, _ = _endorsed(channel, peer, ("AGENCY-A", "AGENCY-A-PEER1"))
    report = _verify(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id]))
    assert report.codes == {"endorsement_policy"}
    assert "fewer than 2" in _messages(report)


def test_an_endorsement_by_a_member_outside_the_pinned_policy_counts_for_nothing(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """AUDITOR-X's MSP is in the channel, but not among the agencies the auditor pinned."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    tx_id, _ = _endorsed(channel, peer, ("AGENCY-A", "AUDITOR-X"))
    report = _verify(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id]))
    assert report.codes == {"endorsement_policy"}


def test_a_read_write_set_changed_after_endorsement_fails(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """The submitter changes the write set (inside the endorsed proposal response) and
    re-signs the envelope with its own key, so only the endorsements can tell."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    tx_id, number = _event(channel, peer)
    signer = channel.signers["AGENCY-A"]

    def change_writes(envelope: Any) -> Any:
        payload = pb.common.Payload.FromString(envelope.payload)
        tx = pb.transaction.Transaction.FromString(payload.data)
        cap = pb.transaction.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        prp = pb.proposal_response.ProposalResponsePayload.FromString(
            cap.action.proposal_response_payload
        )
        action = pb.proposal.ChaincodeAction.FromString(prp.extension)
        action.results = b"a write set nobody endorsed"
        prp.extension = action.SerializeToString()
        cap.action.proposal_response_payload = prp.SerializeToString()
        tx.actions[0].payload = cap.SerializeToString()
        payload.data = tx.SerializeToString()
        envelope.payload = payload.SerializeToString()
        envelope.signature = signer.sign(envelope.payload)
        return envelope

    block = pb.common.Block.FromString(fb.rewrite_tx(channel.block(number), tx_id, change_writes))
    # ... and a dishonest orderer signs the block as it now is
    channel.blocks[number - 1] = fb.make_block(
        number,
        bytes(block.header.previous_hash),
        list(block.data.data),
        channel.signers["ORDERER"],
        b"\x00",
    )
    report = _verify(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id]))
    assert "bad_endorsement" in report.codes
    assert not any(e.included for e in report.events)


def test_a_block_carrying_the_events_transaction_marked_valid_alone_proves_nothing(
    fabric: FabricScenario,
) -> None:
    """The bundle's validity statement left out: the block's own VALID mark is unsigned."""
    bundle = copy.deepcopy(fabric.bundle)
    del bundle["evidence"]["validity"]
    report = _verify(fabric, bundle)
    assert "validity_not_attested" in report.codes
    assert not any(e.included for e in report.events)


def test_a_validity_statement_the_auditors_own_genesis_does_not_name_fails(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """A bundle brings another channel's genesis, blocks and validity statement, all
    signed by the same members: the auditor's pinned genesis refuses the bundle."""
    other = fb.make_channel(fabric.ws)
    peer = StandInPeer(other, [])
    tx_id, _ = _event(other, peer)
    report = _verify(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id]))
    assert not report.ok
    assert report.codes == {"genesis_mismatch"}
