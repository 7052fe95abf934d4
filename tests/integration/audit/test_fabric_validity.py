"""On Fabric an event is proven valid only by the members' signed statements, never by
the validation codes a block carries beside what the orderers signed. No network: the
blocks are made here with real keys (tests/support/fabric_blocks.py), and the members'
witnesses (quorum two of three) state what their peer committed.

The attack: one entitlement submitted in two versions, 150.00 and 9999.00; Fabric keeps
the first and marks the second MVCC_READ_CONFLICT. A forger holding the block flips the
second's code to VALID and names it in the bundle instead of the first.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import pytest

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.fabric_validity import ValidityTree, block_leaves, validity_origin
from ledger_gw.audit.verify import BundleReport, verify_bundle
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.validity import Attester
from ledger_gw.fabric.verifiable import FabricLog
from ledger_gw.log.checkpoint import Checkpoint, cosign_statement, merge_statements
from ledger_gw.log.note import Note, SigType, generate_signer
from tests.integration.audit.test_fabric_bundle import (
    AGENCIES,
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

Bundle = dict[str, Any]


@dataclass
class Conflict:
    f: FabricScenario
    peer: StandInPeer
    witnesses: TestWitnesses
    kept: fb.FabricTx  # 150.00, valid
    lost: fb.FabricTx  # 9999.00, MVCC_READ_CONFLICT
    number: int  # their block
    bundle: Bundle  # the genuine bundle of the kept version

    def forged(self) -> Bundle:
        """The bundle naming the lost version, its code flipped to VALID in its block."""
        lost_block = self.peer.channel.block(self.number)
        return dict(fb.claim_lost_version(self.bundle, self.lost.tx_id, lost_block))

    def verify(self, bundle: Bundle) -> BundleReport:
        return pinned(self.f, bundle, genesis_hash=self.f.genesis_hash)


@pytest.fixture(scope="module")
def conflict(fabric: FabricScenario, audit_witnesses: TestWitnesses) -> Conflict:
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, fabric.peer.records)
    when = dt.datetime.now(dt.UTC)
    grant = ev.entitlement_granted(ev.pid(), amount="150.00")
    kept = fb.endorser_tx(channel, "AGENCY-A", grant, {"ok": True}, when)
    lost = fb.endorser_tx(channel, "AGENCY-A", {**grant, "amount": "9999.00"}, {"ok": True}, when)
    number = channel.order([kept.envelope, lost.envelope], flags=bytes([0, fb.MVCC_READ_CONFLICT]))
    peer.where.update({kept.tx_id: number, lost.tx_id: number})
    later = fb.endorser_tx(channel, "AGENCY-C", ev.consent_granted(ev.pid()), {}, when)
    channel.order([later.envelope])
    bundle = build_bundle(
        _log(peer, member_attesters(peer, audit_witnesses)),
        fabric.ws.consortium,
        kind="events",
        tx_ids=[kept.tx_id],
    )
    return Conflict(fabric, peer, audit_witnesses, kept, lost, number, bundle)


def _log(peer: StandInPeer, attesters: list[Attester]) -> FabricLog:
    """The auditor's peer, and the members stating validity through theirs."""
    return FabricLog(cast(FabricLedger, peer), "AUDITOR-X", attesters)


def _with_note(bundle: Bundle, note: str) -> Bundle:
    out = copy.deepcopy(bundle)
    out["evidence"]["validity"]["checkpoint"] = note
    return out


def _note(bundle: Bundle) -> str:
    return str(bundle["evidence"]["validity"]["checkpoint"])


def test_the_genuine_bundle_verifies_with_the_members_quorum(conflict: Conflict) -> None:
    report = conflict.verify(conflict.bundle)
    assert report.ok, report.failures
    assert [e.tx_id for e in report.events] == [conflict.kept.tx_id]
    assert report.events[0].included
    assert len(report.anchor["validity_witnesses"]) == 3  # every member's witness stated it


def test_a_flipped_validation_code_is_refused(conflict: Conflict) -> None:
    report = conflict.verify(conflict.forged())
    assert "validity_mismatch" in report.codes
    assert not report.events[0].included
    # nothing the orderers or endorsers signed was touched: only the validity catches it
    assert not report.codes & {"block_data_mismatch", "bad_endorsement", "bad_signature"}


def test_a_flag_alone_proves_nothing(conflict: Conflict) -> None:
    """Without the members' statement even the genuine bundle is not proven valid."""
    bundle = copy.deepcopy(conflict.bundle)
    del bundle["evidence"]["validity"]
    report = conflict.verify(bundle)
    assert "validity_not_attested" in report.codes
    assert not report.events[0].included


def test_fewer_members_than_the_quorum_are_refused(conflict: Conflict) -> None:
    note = Note.parse(_note(conflict.bundle))
    one = Note(note.text, note.signatures[:1]).format()
    report = conflict.verify(_with_note(conflict.bundle, one))
    assert "validity_not_attested" in report.codes
    assert "quorum" in next(f.message for f in report.failures if f.code == "validity_not_attested")
    assert not report.events[0].included


def test_keys_outside_the_pinned_consortium_count_for_nothing(conflict: Conflict) -> None:
    """The forger states the tree of its flipped block itself, with keys of its own
    named as the members' witnesses name theirs."""
    forged = conflict.forged()
    blocks = [conflict.peer.channel.block(n) for n in range(len(conflict.peer.channel.blocks) + 1)]
    raw = base64.b64decode(forged["evidence"]["blocks"][0])
    blocks[conflict.number] = raw
    tree = ValidityTree(conflict.f.genesis_hash, [[], *(block_leaves(b) for b in blocks[1:])])
    cp = tree.checkpoint()
    notes = []
    for org in conflict.witnesses.homes:
        signer, _ = generate_signer(f"witness.{org.lower()}", SigType.COSIGNATURE_V1)
        notes.append(cosign_statement(cp, signer, 1))
    forged["evidence"]["validity"]["checkpoint"] = merge_statements(notes)
    leaf = tree.first_leaf(conflict.number) + fb.tx_index(raw, conflict.lost.tx_id)
    forged["evidence"]["validity"]["entries"][0].update(
        leaf=leaf, proof=[base64.b64encode(h).decode() for h in tree.proof(leaf)]
    )
    report = conflict.verify(forged)
    assert "validity_not_attested" in report.codes
    assert not report.events[0].included


def test_a_quorum_over_another_root_is_refused(conflict: Conflict) -> None:
    """The members' genuine statement of an earlier height: signed by the quorum, but its
    tree does not hold the bundle's transaction at the proof's place."""
    earlier = [
        a.statement(conflict.number) for a in member_attesters(conflict.peer, conflict.witnesses)
    ]
    report = conflict.verify(_with_note(conflict.bundle, merge_statements(earlier)))
    assert report.codes == {"validity_mismatch"}
    assert not report.events[0].included


def test_a_statement_about_another_channel_is_refused(conflict: Conflict) -> None:
    cp = Checkpoint.parse(Note.parse(_note(conflict.bundle)).text)
    other = Checkpoint(validity_origin(bytes(32)), cp.size, cp.root_hash)
    signers = [home.signer() for home in conflict.witnesses.homes.values()]
    note = merge_statements([cosign_statement(other, s, 1) for s in signers])
    report = conflict.verify(_with_note(conflict.bundle, note))
    assert "validity_not_attested" in report.codes


def test_a_member_whose_peer_disagrees_is_not_counted(conflict: Conflict) -> None:
    """One member's peer holds the flipped block: its statement differs, so the builder
    merges the other two (still the quorum), and the bundle verifies."""
    channel = copy.deepcopy(conflict.peer.channel)
    raw = channel.blocks[conflict.number - 1]
    channel.blocks[conflict.number - 1] = fb.set_code(raw, fb.tx_index(raw, conflict.lost.tx_id), 0)
    lying = StandInPeer(channel, [])
    attesters = member_attesters(conflict.peer, conflict.witnesses)
    attesters[0] = member_attesters(lying, conflict.witnesses)[0]
    log = _log(conflict.peer, attesters)
    bundle = build_bundle(
        log, conflict.f.ws.consortium, kind="events", tx_ids=[conflict.kept.tx_id]
    )
    report = conflict.verify(bundle)
    assert report.ok, report.failures
    assert len(report.anchor["validity_witnesses"]) == 2


def test_an_auditor_demanding_more_members_than_the_consortium_is_heard(
    conflict: Conflict,
) -> None:
    """Stated by two members, the consortium's quorum; an auditor who demands three is
    not told it verifies (a member and one accomplice can state a flipped flag)."""
    note = Note.parse(_note(conflict.bundle))
    two = _with_note(conflict.bundle, Note(note.text, note.signatures[:2]).format())
    assert conflict.verify(two).ok
    report = verify_bundle(
        two,
        trusted_consortium=conflict.f.ws.consortium,
        genesis_hash=conflict.f.genesis_hash,
        endorsement_policy=(2, AGENCIES),
        quorum=3,
    )
    assert "validity_not_attested" in report.codes
    assert not report.events[0].included
