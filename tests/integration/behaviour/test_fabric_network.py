"""Fabric-only: audit evidence from the real network, checked offline; chaincode events."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.behaviour.conftest import Backend
from tests.support import events as ev


@pytest.fixture
def fabric(fabric_profile: Path) -> Iterator[Backend]:
    from ledger_gw.bootstrap import fabric_ledger

    ledger, ws = fabric_ledger(fabric_profile)
    try:
        yield Backend("fabric", ledger, ws)
    finally:
        ledger.close()


def _fresh_evidence(fabric: Backend) -> tuple[Any, Any, bytes, Any]:
    """A new entitlement's outcome and its block evidence read through the auditor's
    peer, with what the auditor pins: the genesis block's hash and the policy."""
    from ledger_gw import protos as pb
    from ledger_gw.audit.fabric_blocks import EndorsementPolicy, block_header_hash
    from ledger_gw.fabric.gateway import FabricLedger

    ledger = fabric.ledger
    assert isinstance(ledger, FabricLedger)
    [outcome] = fabric.client("AGENCY-A").submit_many([ev.entitlement_granted(ev.pid())])
    evidence = ledger.evidence(outcome.tx_id, "AUDITOR-X")
    pinned = block_header_hash(pb.common.Block.FromString(ledger.block(0, "AGENCY-B")).header)
    policy = EndorsementPolicy(2, frozenset({"AGENCY-A", "AGENCY-B", "AGENCY-C"}))
    return outcome, evidence, pinned, policy


def test_block_evidence_verifies_offline_and_catches_tampering(fabric: Backend) -> None:
    from ledger_gw import protos as pb
    from ledger_gw.audit.fabric_blocks import (
        Evidence,
        verify_evidence,
    )
    from ledger_gw.errors import IntegrityError

    outcome, evidence, pinned, policy = _fresh_evidence(fabric)
    bundle = Evidence.from_dict(evidence.to_dict())  # what travels to the auditor
    report = verify_evidence(bundle, genesis_hash=pinned, policy=policy)
    assert report.block == outcome.position
    assert report.creator == "AGENCY-A"
    assert len(report.endorsers) >= 2
    block = pb.common.Block.FromString(bundle.blocks[0])
    block.data.data[report.tx_index] = block.data.data[report.tx_index].replace(
        b"150.00", b"950.00"
    )
    with pytest.raises(IntegrityError):
        verify_evidence(
            Evidence(
                bundle.channel, bundle.tx_id, bundle.config_block, (block.SerializeToString(),)
            ),
            genesis_hash=pinned,
        )


def test_chaincode_events_reach_the_gateway(fabric: Backend) -> None:
    from ledger_gw.fabric.gateway import FabricLedger

    ledger = fabric.ledger
    assert isinstance(ledger, FabricLedger)
    event = ev.consent_granted(ev.pid())
    [outcome] = fabric.client("AGENCY-B").submit_many([event])
    assert outcome.position is not None
    signer = fabric.ws.signer("AGENCY-B")
    seen = [
        e
        for e in ledger.chaincode_events("AGENCY-B", signer, outcome.position, timeout=3)
        if e[1] == outcome.tx_id
    ]
    assert [(block, name) for block, _, name, _ in seen] == [(outcome.position, "consent.granted")]
    named = json.loads(seen[0][3])  # what names the record the contract wrote
    assert (named["event_id"], named["org"], named["pid"]) == (
        event["event_id"],
        "AGENCY-B",
        event["pid"],
    )
    history = fabric.client("AGENCY-B").history(event["pid"], "service_continuity")["events"]
    assert [(r["tx_id"], r["timestamp"]) for r in history] == [(outcome.tx_id, named["timestamp"])]


def test_resubmitting_the_same_signed_transaction_is_safe(fabric: Backend) -> None:
    client = fabric.client("AGENCY-C")
    signed = client.sign("submit", ev.entitlement_granted(ev.pid()))
    [first] = fabric.ledger.submit_many([signed])
    [again] = fabric.ledger.submit_many([signed])  # Fabric refuses the duplicate ID
    assert first.position is not None
    assert again.error is None
    assert again.position is None
    assert again.result == first.result


def test_a_block_signed_by_an_agency_is_refused(fabric: Backend) -> None:
    """On the real channel: an agency has an entitlement endorsed by the peers, never
    submits it, puts it in a block numbered as the next one and signs that block with
    its own gateway key. The offline check refuses it; the real evidence passes."""
    from ledger_gw import protos as pb
    from ledger_gw.audit.fabric_blocks import (
        Evidence,
        block_data_hash,
        block_header_bytes,
        block_header_hash,
        verify_evidence,
    )
    from ledger_gw.errors import IntegrityError

    _, evidence, pinned, policy = _fresh_evidence(fabric)
    verify_evidence(evidence, genesis_hash=pinned, policy=policy)

    real = pb.common.Block.FromString(evidence.blocks[-1])
    forged = pb.common.Block()
    forged.header.number = real.header.number + 1
    forged.header.previous_hash = block_header_hash(real.header)
    forged.data.data.extend(real.data.data)  # genuinely endorsed transactions
    forged.header.data_hash = block_data_hash(forged.data.data)
    agency = fabric.ws.signer("AGENCY-A")
    creator = pb.identities.SerializedIdentity(
        mspid="AGENCY-A", id_bytes=agency.cert_pem.encode()
    ).SerializeToString()
    sig_header = pb.common.SignatureHeader(creator=creator, nonce=b"forged").SerializeToString()
    header = block_header_bytes(
        forged.header.number, forged.header.previous_hash, forged.header.data_hash
    )
    signatures = pb.common.Metadata(value=b"")
    signatures.signatures.add(
        signature_header=sig_header, signature=agency.sign(sig_header + header)
    )
    forged.metadata.metadata.extend(
        [signatures.SerializeToString(), b"", real.metadata.metadata[2], b""]
    )
    tampered = Evidence(
        evidence.channel,
        evidence.tx_id,
        evidence.config_block,
        (*evidence.blocks, forged.SerializeToString()),
    )
    with pytest.raises(IntegrityError, match="AGENCY-A, which is not an orderer organisation"):
        verify_evidence(tampered, genesis_hash=pinned, policy=policy)


def test_evidence_read_right_after_a_commit_finds_it(fabric: Backend) -> None:
    """Read-your-write for block reads: the auditor's peer may lag the one that confirmed
    the commit; the read waits for it, as a query does."""
    from ledger_gw.fabric.gateway import FabricLedger

    ledger = fabric.ledger
    assert isinstance(ledger, FabricLedger)
    client = fabric.client("AGENCY-A")
    for _ in range(100):
        [outcome] = client.submit_many([ev.consent_granted(ev.pid())])
        evidence = ledger.evidence(outcome.tx_id, "AUDITOR-X")
        assert evidence.tx_id == outcome.tx_id


def test_the_chaincode_servers_take_what_their_peers_offer(fabric_profile: Path) -> None:
    """A Fabric 3.1 peer offers, in READY, reads of several keys in one request and
    writes in batches, and each chaincode server takes both (a grant is then two
    requests to the peer, not seven); a 2.5 peer offers neither. Every write of this
    suite went through what the peers offered."""
    peer = Path(os.environ["FABRIC_HOME"]) / "bin" / "peer"
    version = subprocess.run([peer, "version"], capture_output=True, text=True, check=True)
    found = re.search(r"Version: (\d+)\.(\d+)", version.stdout)
    assert found is not None
    offers = (int(found[1]), int(found[2])) >= (3, 1)
    logs = sorted((fabric_profile.parent / "logs").glob("chaincode-AGENCY-*.log"))
    assert logs
    for log in logs:
        ready = [line for line in log.read_text().splitlines() if " ready (" in line]
        assert ready, log
        expected = "keys_a_read=1000, writes_a_batch=1000" if offers else "keys_a_read=0"
        assert all(expected in line for line in ready), ready
