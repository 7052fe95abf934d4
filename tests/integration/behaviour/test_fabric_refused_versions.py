"""Fabric-only: validity on the real network rests on the agencies' signed statements.

Two versions of one entitlement grant (150.00 and 9999.00) are submitted at once, so
the network keeps one and marks the other MVCC_READ_CONFLICT. A bundle is built for
the kept one (the agencies state, signed, what their own peers committed), the network
is left, and a forger swaps in the refused version with its code flipped to VALID in
its block: the offline verifier, pinned by the caller, refuses it; the genuine bundle
still verifies. Without FABRIC_HOME the `fabric_profile` fixture skips with its reason.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from ledger_gw.audit.verify import BundleReport, verify_bundle
from ledger_gw.client import OrgClient
from ledger_gw.interfaces import Outcome
from tests.integration.behaviour.conftest import FabricValidity
from tests.support import events as ev
from tests.support import fabric_blocks as fb

AGENCIES = frozenset({"AGENCY-A", "AGENCY-B", "AGENCY-C"})


@dataclass
class Refused:
    bundle: dict[str, Any]  # the genuine bundle of the kept version
    kept: str
    lost: str  # the version Fabric marked MVCC_READ_CONFLICT
    lost_block: bytes
    genesis_hash: bytes
    validity: FabricValidity

    def verify(self, bundle: dict[str, Any]) -> BundleReport:
        return verify_bundle(
            json.dumps(bundle),
            trusted_consortium=self.validity.consortium,
            genesis_hash=self.genesis_hash,
            endorsement_policy=(2, AGENCIES),
        )


def _at_once(client: OrgClient, versions: list[dict[str, Any]]) -> list[Outcome]:
    """Each version submitted from its own thread, released together, so both are
    endorsed before either commits."""
    start = threading.Barrier(len(versions))
    outcomes: list[Outcome | None] = [None] * len(versions)

    def submit(i: int) -> None:
        start.wait()
        [outcomes[i]] = client.submit_many([versions[i]])

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(versions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [o for o in outcomes if o is not None]


def _mvcc_loser(ledger: Any, since: int, event_id: str) -> tuple[str, bytes] | None:
    """The transaction of ``event_id`` the peer marked MVCC_READ_CONFLICT, and its block."""
    from ledger_gw import protos as pb
    from ledger_gw.audit.fabric_blocks import json_object

    for number in range(since, ledger.height("AGENCY-A")):
        raw = ledger.block(number, "AGENCY-A")
        block = pb.common.Block.FromString(raw)
        codes = bytes(block.metadata.metadata[2])
        for index, data in enumerate(block.data.data):
            if codes[index] != fb.MVCC_READ_CONFLICT:
                continue
            payload = pb.common.Payload.FromString(pb.common.Envelope.FromString(data).payload)
            tx = pb.transaction.Transaction.FromString(payload.data)
            cap = pb.transaction.ChaincodeActionPayload.FromString(tx.actions[0].payload)
            spec = pb.chaincode.ChaincodeInvocationSpec.FromString(
                pb.proposal.ChaincodeProposalPayload.FromString(
                    cap.chaincode_proposal_payload
                ).input
            )
            if json_object(spec.chaincode_spec.input.args[1]).get("event_id") == event_id:
                header = pb.common.ChannelHeader.FromString(payload.header.channel_header)
                return str(header.tx_id), raw
    return None


@pytest.fixture(scope="module")
def refused(fabric_validity: FabricValidity) -> Refused:
    from ledger_gw import protos as pb
    from ledger_gw.audit.bundle import build_bundle
    from ledger_gw.audit.fabric_blocks import block_header_hash
    from ledger_gw.bootstrap import fabric_ledger
    from ledger_gw.fabric.gateway import FabricLedger
    from ledger_gw.fabric.verifiable import FabricLog

    ledger, ws = fabric_ledger(fabric_validity.profile)
    try:
        assert isinstance(ledger, FabricLedger)
        agency = OrgClient(ledger, ws.signer("AGENCY-A"))
        for _ in range(6):  # the race is the network's to decide: try until it conflicts
            since = ledger.height("AGENCY-A")
            grant = ev.entitlement_granted(ev.pid(), amount="150.00")
            outcomes = _at_once(agency, [grant, {**grant, "amount": "9999.00"}])
            kept = [o.tx_id for o in outcomes if o.error is None and o.position is not None]
            loser = _mvcc_loser(ledger, since, grant["event_id"])
            if kept and loser is not None:
                break
        else:
            pytest.fail("six simultaneous pairs of one event never met an MVCC conflict")
        agency.submit(ev.consent_granted(ev.pid()))  # the head lies beyond
        bundle = build_bundle(
            FabricLog(ledger, "AUDITOR-X"),  # the profile's agencies attest validity
            fabric_validity.consortium,
            kind="events",
            tx_ids=kept[:1],
        )
        genesis = pb.common.Block.FromString(ledger.block(0, "AGENCY-B"))
    finally:
        ledger.close()  # everything below is offline
    lost, lost_block = loser
    return Refused(
        json.loads(json.dumps(bundle)),
        kept[0],
        lost,
        lost_block,
        block_header_hash(genesis.header),
        fabric_validity,
    )


def test_the_genuine_bundle_verifies_with_the_callers_pins(refused: Refused) -> None:
    report = refused.verify(refused.bundle)
    assert report.ok, report.failures
    assert [e.tx_id for e in report.events] == [refused.kept]
    assert len(report.anchor["validity_witnesses"]) >= 2


def test_an_mvcc_conflict_flipped_to_valid_is_refused(refused: Refused) -> None:
    forged = fb.claim_lost_version(refused.bundle, refused.lost, refused.lost_block)
    report = refused.verify(forged)
    assert "validity_mismatch" in report.codes
    assert [e.tx_id for e in report.events] == [refused.lost]
    assert not report.events[0].included
    assert not report.codes & {"block_data_mismatch", "bad_endorsement", "bad_signature"}


def test_without_the_agencies_statements_nothing_is_proven_valid(refused: Refused) -> None:
    bundle = json.loads(json.dumps(refused.bundle))
    del bundle["evidence"]["validity"]
    assert "validity_not_attested" in refused.verify(bundle).codes
