"""The embedded ledger's verifiable log: records, anchors and proofs from its Merkle log."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuthenticationError, IntegrityError
from ledger_gw.interfaces import reveal_all
from ledger_gw.log.entry import Entry
from ledger_gw.log.merkle import leaf_hash, verify_inclusion
from ledger_gw.remote.wire import revealed_transaction
from tests.integration.audit.conftest import Scenario


def test_records_follow_the_log_up_to_the_checkpoint(scenario: Scenario) -> None:
    log = EmbeddedLog.of(scenario.ledger)
    anchor = log.anchor()
    assert anchor.summary["origin"] == scenario.ws.consortium.origin
    assert anchor.summary["tree_size"] == anchor.size == log.size()
    records = list(log.records(anchor))
    txs = [log.transaction(Entry.from_bytes(d)) for _, d in scenario.ledger.log.entries()]
    assert [r.position for r in records] == list(range(anchor.size))
    assert [r.tx_id for r in records] == [tx.tx_id for tx in txs]
    assert [r.event for r in records] == [tx.proposal.args[0] for tx in txs]
    assert records[0].org == "AGENCY-A"


def test_records_refuse_a_log_that_is_not_the_checkpoints(scenario: Scenario) -> None:
    log = EmbeddedLog.of(scenario.ledger)
    anchor = log.anchor()
    forged = dataclasses.replace(
        anchor, summary={**anchor.summary, "root": base64.b64encode(bytes(32)).decode()}
    )
    with pytest.raises(IntegrityError, match="checkpoint"):
        list(log.records(forged))


def test_inclusion_proof_verifies_against_the_checkpoint(scenario: Scenario) -> None:
    log = EmbeddedLog.of(scenario.ledger)
    tx_id = log.transaction(Entry.from_bytes(scenario.ledger.log.entry(2))).tx_id
    proof = log.inclusion(None, tx_id, None, reveal_all)
    assert proof["index"] == 2
    entry = base64.b64decode(proof["entry"])
    # The entry names its signer's certificate by hash; the proof carries that certificate.
    assert revealed_transaction(proof).tx_id == tx_id
    other = scenario.ws.signer("AGENCY-B").cert_pem
    with pytest.raises(AuthenticationError, match="unknown certificate"):
        revealed_transaction({**proof, "certificate": other})
    root = base64.b64decode(log.anchor(proof["size"]).summary["root"])
    path = [base64.b64decode(h) for h in proof["proof"]]
    verify_inclusion(leaf_hash(entry), 2, proof["size"], path, root)
    assert log.consistency(1, None)["checkpoint2"] == log.checkpoint(None)["note"]
