"""Only agencies record events, on Fabric as on the embedded ledger. The contract, run by
the endorsing peers, refuses a donor's or an auditor's event and one by an organisation
the consortium does not list; endorsers who sign one anyway get it ordered into a block
that the orderers sign, with a valid submitter signature under a certificate its MSP
issued, and the members attest it VALID. The offline verifier replays the contract's
rule on the submitter and refuses it by the pinned consortium, as it does a Merkle log's.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import cast

import pytest

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import BundleReport
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.verifiable import FabricLog
from tests.integration.audit.test_fabric_bundle import (
    FabricScenario,
    StandInPeer,
    member_attesters,
    pinned,
)
from tests.integration.audit.test_fabric_bundle import fabric as fabric  # the fixture
from tests.support import events as ev
from tests.support import fabric_blocks as fb
from tests.support.witnesses import TestWitnesses

__all__ = ["fabric"]


def _submitted_by(
    f: FabricScenario, witnesses: TestWitnesses, submitter: str
) -> tuple[BundleReport, str]:
    """A referral created by ``submitter``, endorsed by two agencies, ordered, attested
    valid by the members, bundled and verified with the auditor's pins."""
    channel = copy.deepcopy(f.peer.channel)
    peer = StandInPeer(channel, [])
    event = ev.referral_created(ev.pid())
    result = {"referral_id": event["referral_id"], "state": "created"}
    tx = fb.endorser_tx(channel, submitter, event, result, dt.datetime.now(dt.UTC))
    peer.where[tx.tx_id] = channel.order([tx.envelope])
    log = FabricLog(cast(FabricLedger, peer), "AUDITOR-X", member_attesters(peer, witnesses))
    bundle = build_bundle(log, f.ws.consortium, kind="events", tx_ids=[tx.tx_id])
    return pinned(f, bundle, genesis_hash=f.genesis_hash), str(event["event_id"])


def test_an_agencys_event_verifies(fabric: FabricScenario, audit_witnesses: TestWitnesses) -> None:
    report, _ = _submitted_by(fabric, audit_witnesses, "AGENCY-C")
    assert report.ok, report.failures
    assert [(e.org, e.signature_ok, e.included) for e in report.events] == [
        ("AGENCY-C", True, True)
    ]


@pytest.mark.parametrize("submitter", ["DONOR-Y", "AUDITOR-X"])
def test_an_event_a_member_that_records_nothing_signed_is_refused(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, submitter: str
) -> None:
    report, event_id = _submitted_by(fabric, audit_witnesses, submitter)
    assert report.codes == {"role_forbidden"}
    (refused,) = report.failures
    assert refused.event_id == event_id
    (event,) = report.events
    assert (event.org, event.signature_ok) == (submitter, True)  # valid, and still refused


def test_an_event_an_organisation_outside_the_consortium_signed_is_refused(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """The orderers' MSP is in the channel configuration and issued the submitter's
    certificate; the consortium the auditor pinned does not list it."""
    assert "ORDERER" not in fabric.ws.consortium.organisations
    report, _ = _submitted_by(fabric, audit_witnesses, "ORDERER")
    assert report.codes == {"unknown_organisation"}
    (event,) = report.events
    assert (event.org, event.signature_ok, event.included) == (None, False, False)
