"""Fabric through the verifiable-log tools, offline (blocks made here with real keys): a
transaction's C2SP tlog-proof is its leaf in the members' validity log, checked with the
caller's pinned consortium; a watcher follows the validity log's checkpoints and is told
when it is shown a forked history.

The channel is the conflict of test_fabric_validity: one entitlement in two versions,
the second refused MVCC_READ_CONFLICT; three member witnesses, quorum two.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from chaincode.canonical import canonical_json
from ledger_gw import protos as pb
from ledger_gw.audit.fabric_evidence import POSITION_STRIDE
from ledger_gw.audit.fabric_validity import ValidityTree, block_leaves, statement
from ledger_gw.cli import cli
from ledger_gw.errors import AuditError, AuditFailedError, ConflictError, LogInconsistentError
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.verifiable import FabricLog
from ledger_gw.log.checkpoint import cosign_statement, merge_statements
from ledger_gw.log.merkle import verify_consistency
from ledger_gw.log.note import Note, SigType, generate_signer
from ledger_gw.log.tlog_proof import TlogProof
from ledger_gw.services import proofs, tlog_proofs, watch
from tests.integration.audit.test_fabric_bundle import StandInPeer, member_attesters
from tests.integration.audit.test_fabric_bundle import fabric as fabric  # the fixture
from tests.integration.audit.test_fabric_validity import Conflict
from tests.integration.audit.test_fabric_validity import conflict as conflict  # the fixture
from tests.support import events as ev
from tests.support import fabric_blocks as fb

__all__ = ["conflict", "fabric"]


def _log(c: Conflict, peer: StandInPeer | None = None) -> FabricLog:
    peer = peer or c.peer
    return FabricLog(cast(FabricLedger, peer), "AUDITOR-X", member_attesters(peer, c.witnesses))


def _export(c: Conflict, tx_id: str, size: int | None = None) -> TlogProof:
    return TlogProof.parse(tlog_proofs.export(_log(c), None, tx_id, size))


def _verify(c: Conflict, proof: TlogProof, **kw: object) -> tlog_proofs.ProvenEntry:
    kw.setdefault("genesis_hash", c.f.genesis_hash)
    return tlog_proofs.verify(proof.text().encode(), c.f.ws.consortium, **kw)  # type: ignore[arg-type]


def test_a_transactions_tlog_proof_verifies_with_the_callers_pins(conflict: Conflict) -> None:
    proven = _verify(conflict, _export(conflict, conflict.kept.tx_id))
    stated = proven.to_dict()["transaction"]
    assert stated["tx_id"] == conflict.kept.tx_id
    assert (stated["block"], stated["index"], stated["code"]) == (conflict.number, 0, 0)
    assert stated["valid"] is True
    assert len(proven.checkpoint.witnesses) == 3
    assert proven.checkpoint.checkpoint.origin.startswith("fabric-validity/")


def test_a_refused_version_is_proven_refused(conflict: Conflict) -> None:
    """Any transaction has a leaf: the lost version's states its MVCC conflict."""
    stated = _verify(conflict, _export(conflict, conflict.lost.tx_id)).to_dict()["transaction"]
    assert (stated["code"], stated["valid"]) == (fb.MVCC_READ_CONFLICT, False)


def test_by_position_and_at_a_height(conflict: Conflict) -> None:
    position = conflict.number * POSITION_STRIDE + 1
    text = tlog_proofs.export(_log(conflict), position, None, conflict.number + 1)
    proven = _verify(conflict, TlogProof.parse(text))
    assert proven.to_dict()["transaction"]["tx_id"] == conflict.lost.tx_id
    # the tree of blocks 0 to number: the lost version is its last leaf
    assert proven.checkpoint.checkpoint.size == proven.index + 1


def test_a_flipped_code_in_the_statement_is_refused(conflict: Conflict) -> None:
    proof = _export(conflict, conflict.lost.tx_id)
    stated = json.loads(proof.extra or b"")
    flipped = {**stated, "code": 0}
    forged = TlogProof(proof.index, proof.proof, proof.checkpoint, canonical_json(flipped))
    with pytest.raises(AuditFailedError, match="does not verify"):
        _verify(conflict, forged)


def test_a_proof_over_another_root_fails(conflict: Conflict) -> None:
    """The members' genuine quorum statement of an earlier height: it does not hold the
    leaf at the proof's place."""
    proof = _export(conflict, conflict.kept.tx_id)
    earlier = merge_statements(
        [a.statement(conflict.number) for a in member_attesters(conflict.peer, conflict.witnesses)]
    )
    with pytest.raises(AuditFailedError, match="does not verify"):
        _verify(conflict, TlogProof(proof.index, proof.proof, earlier, proof.extra))


def test_too_few_member_signatures_fail(conflict: Conflict) -> None:
    proof = _export(conflict, conflict.kept.tx_id)
    note = Note.parse(proof.checkpoint)
    one = Note(note.text, note.signatures[:1]).format()
    with pytest.raises(AuditFailedError, match="quorum"):
        _verify(conflict, TlogProof(proof.index, proof.proof, one, proof.extra))
    # asking for less than the consortium's quorum does not lower it: the members are
    # the only signers of a validity log
    with pytest.raises(AuditFailedError, match="quorum"):
        _verify(conflict, TlogProof(proof.index, proof.proof, one, proof.extra), quorum=1)


def test_keys_outside_the_callers_consortium_fail(conflict: Conflict) -> None:
    """A forger's tree with the lost version flipped VALID, stated by keys of its own
    named as the members' witnesses are."""
    raw = fb.set_code(
        conflict.peer.channel.block(conflict.number),
        fb.tx_index(conflict.peer.channel.block(conflict.number), conflict.lost.tx_id),
        0,
    )
    channel = conflict.peer.channel
    blocks = [channel.block(n) for n in range(1, len(channel.blocks) + 1)]
    blocks[conflict.number - 1] = raw
    tree = ValidityTree(conflict.f.genesis_hash, [[], *(block_leaves(b) for b in blocks)])
    notes = []
    for org in conflict.witnesses.homes:
        signer, _ = generate_signer(f"witness.{org.lower()}", SigType.COSIGNATURE_V1)
        notes.append(cosign_statement(tree.checkpoint(), signer, 1))
    leaf = tree.first_leaf(conflict.number) + 1
    stated = statement(pb.common.Block.FromString(raw), 1)
    forged = TlogProof(leaf, tuple(tree.proof(leaf)), merge_statements(notes), stated)
    with pytest.raises(AuditFailedError, match="quorum"):
        _verify(conflict, forged)


def test_another_channel_pinned_fails(conflict: Conflict) -> None:
    proof = _export(conflict, conflict.kept.tx_id)
    with pytest.raises(AuditFailedError, match="origin"):
        _verify(conflict, proof, genesis_hash=bytes(32))


def test_the_block_ties_the_proof_to_the_events_content(conflict: Conflict) -> None:
    proof = _export(conflict, conflict.kept.tx_id)
    block = conflict.peer.channel.block(conflict.number)
    assert _verify(conflict, proof, block=block).to_dict()["transaction"]["valid"]
    changed = fb.rewrite_tx(
        block, conflict.kept.tx_id, lambda e: fb.change_event(e, "amount", "9999.00")
    )
    with pytest.raises(AuditFailedError, match="does not bear out"):
        _verify(conflict, proof, block=changed)
    flipped = fb.set_code(block, fb.tx_index(block, conflict.lost.tx_id), 0)
    lost = _export(conflict, conflict.lost.tx_id)
    with pytest.raises(AuditFailedError, match="does not bear out"):
        _verify(conflict, lost, block=flipped)


def test_the_checkpoint_note_is_the_validity_logs(conflict: Conflict) -> None:
    log = _log(conflict)
    note = proofs.checkpoint_note(log, None)
    assert Note.parse(note).text.startswith("fabric-validity/")
    alone = FabricLog(cast(FabricLedger, conflict.peer), "AUDITOR-X", [])
    with pytest.raises(ConflictError) as refused:
        proofs.checkpoint_note(alone, None)
    assert refused.value.code == "validity_not_attested"
    with pytest.raises(ConflictError):
        tlog_proofs.export(alone, None, conflict.kept.tx_id, None)


def test_consistency_answers_carry_the_validity_logs_proof(conflict: Conflict) -> None:
    log = _log(conflict)
    answer = proofs.consistency(log, conflict.number, None)
    validity = answer["validity"]
    trees = [log._validity.tree(h) for h in (conflict.number, answer["size2"])]
    proof = [base64.b64decode(h) for h in validity["proof"]]
    assert (validity["size1"], validity["size2"]) == tuple(len(t.leaves()) for t in trees)
    verify_consistency(
        validity["size1"],
        validity["size2"],
        proof,
        trees[0].checkpoint().root_hash,
        trees[1].checkpoint().root_hash,
    )


def _grown(c: Conflict) -> StandInPeer:
    """The same channel with one more block."""
    channel = copy.deepcopy(c.peer.channel)
    tx = fb.endorser_tx(channel, "AGENCY-B", ev.consent_granted(ev.pid()), {}, _when())
    channel.order([tx.envelope])
    return StandInPeer(channel, [])


def _when() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _forked(c: Conflict, grow: bool) -> StandInPeer:
    """The channel with the lost version flipped VALID in its block: what every member
    would sign if their peers (or the gateway asking them) showed that history."""
    channel = copy.deepcopy(c.peer.channel)
    raw = channel.blocks[c.number - 1]
    channel.blocks[c.number - 1] = fb.set_code(raw, fb.tx_index(raw, c.lost.tx_id), 0)
    peer = StandInPeer(channel, [])
    if grow:
        tx = fb.endorser_tx(channel, "AGENCY-B", ev.consent_granted(ev.pid()), {}, _when())
        channel.order([tx.envelope])
    return peer


def test_watch_follows_the_validity_log(conflict: Conflict, tmp_path: Path) -> None:
    state, consortium = tmp_path / "watch.json", conflict.f.ws.consortium
    first = watch.poll(state, consortium, _log(conflict))
    assert (first.status, len(first.witnesses)) == ("first", 3)
    assert watch.poll(state, consortium, _log(conflict)).status == "unchanged"
    grown = watch.poll(state, consortium, _log(conflict, _grown(conflict)))
    assert (grown.status, grown.old_size, grown.new_size) == (
        "extended",
        first.new_size,
        first.new_size + 1,  # one transaction more
    )
    assert json.loads(state.read_text())["origin"].startswith("fabric-validity/")


@pytest.mark.parametrize("grow", [False, True], ids=["same size", "then extended"])
def test_watch_detects_a_forked_validity_history(
    conflict: Conflict, tmp_path: Path, grow: bool
) -> None:
    state, consortium = tmp_path / "watch.json", conflict.f.ws.consortium
    watch.poll(state, consortium, _log(conflict))
    trusted = state.read_text()
    with pytest.raises(LogInconsistentError, match="FORKED" if not grow else "INCONSISTENT"):
        watch.poll(state, consortium, _log(conflict, _forked(conflict, grow)))
    assert state.read_text() == trusted  # a failed check leaves the trusted head alone


def test_watch_refuses_a_checkpoint_below_the_members_quorum(
    conflict: Conflict, tmp_path: Path
) -> None:
    state, consortium = tmp_path / "watch.json", conflict.f.ws.consortium
    one = FabricLog(
        cast(FabricLedger, conflict.peer),
        "AUDITOR-X",
        member_attesters(conflict.peer, conflict.witnesses)[:1],
    )
    with pytest.raises(AuditError, match="quorum"):
        watch.poll(state, consortium, one)
    assert not state.exists()


def test_audit_verify_checks_a_fabric_tlog_proof_file(conflict: Conflict, tmp_path: Path) -> None:
    proof, block = tmp_path / "tx.tlog-proof", tmp_path / "block.bin"
    proof.write_text(_export(conflict, conflict.kept.tx_id).text())
    raw = conflict.peer.channel.block(conflict.number)
    block.write_bytes(raw)
    pins = ["--consortium", str(conflict.f.ws.root / "consortium.json")]
    pins += ["--genesis-hash", conflict.f.genesis_hash.hex()]
    good = CliRunner().invoke(cli, ["audit", "verify", str(proof), *pins, "--block", str(block)])
    assert good.exit_code == 0, good.output
    assert json.loads(good.output)["transaction"]["tx_id"] == conflict.kept.tx_id
    block.write_bytes(fb.set_code(raw, 0, fb.MVCC_READ_CONFLICT))
    bad = CliRunner().invoke(cli, ["audit", "verify", str(proof), *pins, "--block", str(block)])
    assert bad.exit_code == 1
    assert "does not bear out" in str(bad.exception)
