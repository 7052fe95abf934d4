"""A tlog-proof is checked by the rule its verifier pins, never by the one it names. A
Fabric validity log has no log key, only the members' witness signatures; so a proof
whose checkpoint merely names a validity origin must not escape the log key's signature
on an embedded consortium, and must not choose its own channel on Fabric: a validity
proof verifies only against the channel the caller pins (its genesis block's hash)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from ledger_gw import protos as pb
from ledger_gw.audit.fabric_validity import ValidityTree, block_leaves, statement, validity_origin
from ledger_gw.audit.tlog_proof import verify_tlog_proof
from ledger_gw.cli import cli
from ledger_gw.errors import AuditFailedError, ValidationError
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.verifiable import FabricLog
from ledger_gw.log.checkpoint import Checkpoint, cosign_statement, merge_statements
from ledger_gw.log.merkle import leaf_hash
from ledger_gw.log.tlog_proof import TlogProof
from ledger_gw.services import tlog_proofs
from tests.integration.audit.test_fabric_bundle import fabric as fabric  # the fixture
from tests.integration.audit.test_fabric_bundle import member_attesters
from tests.integration.audit.test_fabric_validity import Conflict
from tests.integration.audit.test_fabric_validity import conflict as conflict  # the fixture
from tests.support import fabric_blocks as fb
from tests.support.witnesses import TestWitnesses

__all__ = ["conflict", "fabric"]

NEVER_LOGGED = b'{"event": "the log never held this"}'


def _witness_only(witnesses: TestWitnesses, origin: str) -> TlogProof:
    """A one-leaf tree of an entry the log never held, signed by the witness key alone."""
    cp = Checkpoint(origin, 1, leaf_hash(NEVER_LOGGED))
    return TlogProof(0, (), cosign_statement(cp, witnesses.homes["AUDITOR-X"].signer(), 1), None)


def test_a_proof_naming_a_validity_origin_still_needs_the_log_key(
    witnessed: TestWitnesses,
) -> None:
    consortium = witnessed.workspace.consortium
    proof = _witness_only(witnessed, validity_origin(bytes(32)))
    with pytest.raises(AuditFailedError, match="log key"):
        verify_tlog_proof(proof, consortium, entry=NEVER_LOGGED)
    with pytest.raises(ValidationError) as refused:
        tlog_proofs.verify(proof.text().encode(), consortium, entry=NEVER_LOGGED)
    assert (refused.value.code, refused.value.field) == ("trust_root_not_pinned", "--genesis-hash")


def test_audit_verify_refuses_a_witness_only_proof_on_an_embedded_consortium(
    witnessed: TestWitnesses, tmp_path: Path
) -> None:
    proof, entry = tmp_path / "forged.tlog-proof", tmp_path / "entry.bin"
    proof.write_text(_witness_only(witnessed, validity_origin(bytes(32))).text())
    entry.write_bytes(NEVER_LOGGED)
    consortium = str(witnessed.workspace.root / "consortium.json")
    args = ["audit", "verify", str(proof), "--consortium", consortium, "--entry", str(entry)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, ValidationError)
    assert result.exception.code == "trust_root_not_pinned"


def _exported(c: Conflict, tx_id: str) -> bytes:
    """The transaction's genuine tlog-proof, as the members' quorum states it."""
    log = FabricLog(cast(FabricLedger, c.peer), "AUDITOR-X", member_attesters(c.peer, c.witnesses))
    return tlog_proofs.export(log, None, tx_id, None).encode()


def test_a_validity_proof_is_refused_without_the_channel_pinned(conflict: Conflict) -> None:
    proof = _exported(conflict, conflict.kept.tx_id)
    consortium = conflict.f.ws.consortium
    block = conflict.peer.channel.block(conflict.number)
    for kw in ({}, {"block": block}):
        with pytest.raises(ValidationError) as refused:
            tlog_proofs.verify(proof, consortium, **kw)  # type: ignore[arg-type]
        assert refused.value.code == "trust_root_not_pinned"
    assert tlog_proofs.verify(proof, consortium, genesis_hash=conflict.f.genesis_hash, block=block)


def test_the_members_statement_of_another_channel_proves_nothing_here(
    conflict: Conflict,
) -> None:
    """The members' own keys sign the validity log of a channel whose history has the
    lost version VALID: a proof from it names that channel, never the one pinned."""
    channel = conflict.peer.channel
    raw = fb.set_code(
        channel.block(conflict.number),
        fb.tx_index(channel.block(conflict.number), conflict.lost.tx_id),
        0,
    )
    blocks = [channel.block(n) for n in range(1, len(channel.blocks) + 1)]
    blocks[conflict.number - 1] = raw
    tree = ValidityTree(b"\x01" * 32, [[], *(block_leaves(b) for b in blocks)])
    notes = [
        cosign_statement(tree.checkpoint(), h.signer(), 1)
        for h in conflict.witnesses.homes.values()
    ]
    leaf = tree.first_leaf(conflict.number) + 1
    stated = statement(pb.common.Block.FromString(raw), 1)
    forged = TlogProof(leaf, tuple(tree.proof(leaf)), merge_statements(notes), stated)
    consortium, text = conflict.f.ws.consortium, forged.text().encode()
    with pytest.raises(ValidationError, match="--genesis-hash"):
        tlog_proofs.verify(text, consortium)
    with pytest.raises(AuditFailedError, match="origin"):
        tlog_proofs.verify(text, consortium, genesis_hash=conflict.f.genesis_hash)
