"""Consistency monitoring catches a forked log; chain verdicts name document mismatches."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.audit.watch import Monitor, ReaderSource
from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.embedded.witnessing import Cosigner, endpoints
from ledger_gw.errors import AuditError, LogInconsistentError, UnavailableError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import EMPTY_ROOT
from ledger_gw.log.note import sign_note
from ledger_gw.workspace import Workspace
from tests.integration.audit.conftest import DOCUMENT, SALT, Scenario
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses


def test_document_hash_mismatch_is_a_failed_step(scenario: Scenario) -> None:
    bundle = build_bundle(
        EmbeddedLog.of(scenario.ledger),
        scenario.ws.consortium,
        kind="referral_chain",
        subject=scenario.root_referral,
    )
    report = verify_bundle(
        bundle,
        trusted_consortium=scenario.ws.consortium,
        documents={scenario.root_referral: (DOCUMENT + b"!", SALT)},
    )
    assert report.codes == {"document_mismatch"}
    first = report.steps[0].to_dict()
    assert first["verdict"] == "fail"
    assert first["reasons"] == [
        "document_hash: the keyed hash of the document given does not match the ledger's"
    ]
    assert all(s.ok for s in report.steps[1:])


def test_a_document_for_a_referral_the_bundle_does_not_hold_is_a_failure(
    scenario: Scenario,
) -> None:
    """The auditor's document is checked against nothing: a bundle of the onward referral
    alone must not answer "ok" to the root referral's document, right or wrong."""
    bundle = build_bundle(
        EmbeddedLog.of(scenario.ledger),
        scenario.ws.consortium,
        kind="referral_chain",
        subject=scenario.onward_referral,
    )
    trusted = scenario.ws.consortium
    assert verify_bundle(bundle, trusted_consortium=trusted).ok
    absent = str(uuid.uuid4())
    report = verify_bundle(
        bundle, trusted_consortium=trusted, documents={absent: (DOCUMENT + b"!", SALT)}
    )
    assert report.codes == {"document_mismatch"}
    assert absent in report.failures[0].message


def test_monitor_extends_then_detects_fork(audit_ws: Workspace, tmp_path: Path) -> None:
    one = EmbeddedLedger(
        f"sqlite:///{tmp_path / 'one.db'}", audit_ws.consortium, audit_ws.log_signer()
    )
    two = EmbeddedLedger(
        f"sqlite:///{tmp_path / 'two.db'}", audit_ws.consortium, audit_ws.log_signer()
    )
    try:
        a_one, a_two = (
            OrgClient(one, audit_ws.signer("AGENCY-A")),
            OrgClient(two, audit_ws.signer("AGENCY-A")),
        )
        for i in range(4):  # the same signed transactions: identical prefix
            tx = a_one.sign("submit", ev.independent(i))
            one.submit(tx)
            two.submit(tx)
        state = tmp_path / "monitor.json"
        monitor = Monitor(state, audit_ws.consortium, quorum=0)  # no witnesses here
        assert monitor.poll(ReaderSource(one.log)).status == "first"
        a_one.submit(ev.independent(10))
        seen = monitor.poll(ReaderSource(one.log))
        assert (seen.status, seen.old_size, seen.new_size) == ("extended", 4, 5)
        assert monitor.poll(ReaderSource(one.log)).status == "unchanged"
        before = state.read_text()

        a_two.submit(ev.independent(11))  # same size 5, another root
        with pytest.raises(LogInconsistentError, match="LOG FORKED"):
            monitor.poll(ReaderSource(two.log))
        a_two.submit(ev.independent(12))  # size 6, not an extension of the trusted 5
        with pytest.raises(LogInconsistentError, match="LOG INCONSISTENT"):
            monitor.poll(ReaderSource(two.log))
        assert state.read_text() == before  # a failure never moves the trusted head
        assert json.loads(before)["size"] == 5
    finally:
        one.close()
        two.close()


def test_monitor_refuses_rollback(audit_ws: Workspace, tmp_path: Path) -> None:
    """On a log of a consortium without witnesses, whose latest checkpoint is what it
    serves; with witnesses, see the next test."""
    unwitnessed = replace(audit_ws.consortium, witness_quorum=0)
    ledger = EmbeddedLedger(f"sqlite:///{tmp_path / 'l.db'}", unwitnessed, audit_ws.log_signer())
    try:
        client = OrgClient(ledger, audit_ws.signer("AGENCY-A"))
        client.submit(ev.independent(0))
        old_note = ledger.log.checkpoint()
        client.submit(ev.independent(1))
        monitor = Monitor(tmp_path / "m.json", unwitnessed)
        monitor.poll(ReaderSource(ledger.log))
        with pytest.raises(LogInconsistentError, match="ROLLED BACK"):
            monitor.observe(old_note, [])
    finally:
        ledger.close()


def test_a_smaller_checkpoint_is_a_rollback_only_between_witnessed_ones(
    audit_ws: Workspace, audit_witnesses: TestWitnesses, tmp_path: Path
) -> None:
    """A log serves its latest witnessed checkpoint: smaller than one a watcher trusted
    with less than the witnesses' quorum (its own choice, or a state file from before),
    it is late, not rolled back; smaller than a witnessed one, and witnessed itself, it
    is rolled back."""
    consortium = audit_ws.consortium
    ledger = EmbeddedLedger(f"sqlite:///{tmp_path / 'l.db'}", consortium, audit_ws.log_signer())
    try:
        client = OrgClient(ledger, audit_ws.signer("AGENCY-A"))
        for i in range(3):
            client.submit(ev.independent(i))
        audit_witnesses.forget()
        asked = [w for w in endpoints(consortium) if w.org_id in ("AGENCY-A", "AGENCY-B")]
        witnessed = Cosigner(ledger.engine, consortium).ask(asked, None)  # size 3
        client.submit(ev.independent(3))  # size 4, the log's signature alone

        lenient = Monitor(tmp_path / "lenient.json", consortium, quorum=0)
        assert lenient.poll(ReaderSource(ledger.log)).new_size == 4
        seen = lenient.observe(witnessed, ledger.log.consistency_proof(3, 4))
        assert (seen.status, seen.old_size, seen.new_size) == ("behind", 4, 3)
        assert json.loads((tmp_path / "lenient.json").read_text())["size"] == 4

        strict = Monitor(tmp_path / "strict.json", consortium)
        Cosigner(ledger.engine, consortium).ask(asked, None)  # size 4, witnessed
        assert strict.poll(ReaderSource(ledger.log)).status == "first"
        with pytest.raises(LogInconsistentError, match="ROLLED BACK"):
            strict.observe(witnessed, [])
    finally:
        ledger.close()


@dataclass(frozen=True)
class _Serving:
    """A log that serves ``note`` as its latest checkpoint, and the consistency proofs of
    ``proofs`` (None: it gives none)."""

    note: str
    proofs: ReaderSource | None

    def latest_checkpoint(self) -> str:
        return self.note

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        if self.proofs is None:
            raise UnavailableError("the log gives no proof")
        return self.proofs.consistency_proof(size1, size2)


def test_a_smaller_checkpoint_that_forks_is_caught_not_taken_for_lag(
    audit_ws: Workspace, audit_witnesses: TestWitnesses, tmp_path: Path
) -> None:
    """A watcher that trusts a witnessed head is shown a smaller checkpoint the log signed
    alone: late if it is a prefix of the trusted tree, a fork if it is not, and not said
    to be merely late when the log will not prove which."""
    consortium = audit_ws.consortium
    ledger = EmbeddedLedger(f"sqlite:///{tmp_path / 'l.db'}", consortium, audit_ws.log_signer())
    try:
        client = OrgClient(ledger, audit_ws.signer("AGENCY-A"))
        for i in range(4):
            client.submit(ev.independent(i))
        audit_witnesses.forget()
        asked = [w for w in endpoints(consortium) if w.org_id in ("AGENCY-A", "AGENCY-B")]
        Cosigner(ledger.engine, consortium).ask(asked, None)  # size 4, witnessed
        state = tmp_path / "watch.json"
        monitor = Monitor(state, consortium)
        assert monitor.poll(ReaderSource(ledger.log)).status == "first"
        trusted = state.read_text()

        real = ReaderSource(ledger.log)
        seen = monitor.poll(_Serving(ledger.log.checkpoint(2), real))
        assert (seen.status, seen.old_size, seen.new_size) == ("behind", 4, 2)
        forked = ckpt.Checkpoint(consortium.origin, 2, b"\x42" * 32)
        fork = ckpt.sign_checkpoint(forked, audit_ws.log_signer())
        with pytest.raises(LogInconsistentError, match="LOG FORKED: checkpoint 2 is no prefix"):
            monitor.poll(_Serving(fork, real))
        seen = monitor.poll(_Serving(fork, None))
        assert (seen.status, seen.old_size, seen.new_size) == ("behind_unverified", 4, 2)
        assert state.read_text() == trusted
    finally:
        ledger.close()


def test_a_monitor_that_first_saw_the_empty_tree_follows_the_log(
    audit_ws: Workspace, tmp_path: Path
) -> None:
    """The empty tree is a prefix of every tree: no proof is needed from it, and an
    operator who shows a new monitor size 0 cannot make every later head an alarm. Size
    0 with another root is no checkpoint at all."""
    signer = audit_ws.log_signer()
    origin = audit_ws.consortium.origin
    monitor = Monitor(tmp_path / "m.json", audit_ws.consortium, quorum=0)
    zeros = base64.b64encode(bytes(32)).decode()
    with pytest.raises(AuditError, match="empty root"):  # signed by the log all the same
        monitor.observe(sign_note(f"{origin}\n0\n{zeros}\n", [signer]), [])
    empty = ckpt.sign_checkpoint(ckpt.Checkpoint(origin, 0, EMPTY_ROOT), signer)
    assert monitor.observe(empty, []).status == "first"
    ledger = EmbeddedLedger(f"sqlite:///{tmp_path / 'l.db'}", audit_ws.consortium, signer)
    try:
        client = OrgClient(ledger, audit_ws.signer("AGENCY-A"))
        for i in range(3):
            client.submit(ev.independent(i))
        seen = monitor.poll(ReaderSource(ledger.log))
        assert (seen.status, seen.old_size, seen.new_size) == ("extended", 0, 3)
    finally:
        ledger.close()


def test_a_history_the_witnesses_never_cosigned_is_never_trusted(
    audit_ws: Workspace, audit_witnesses: TestWitnesses, tmp_path: Path
) -> None:
    """The operator shows one watcher a history of its own, signed with the log's key:
    without the witnesses' quorum on it the watcher does not follow it, and so cannot be
    kept apart from what everyone else sees. It is held to what the watcher trusts all
    the same: a fork the log signed is caught at once."""
    consortium = audit_ws.consortium
    one, two = (
        EmbeddedLedger(f"sqlite:///{tmp_path / name}", consortium, audit_ws.log_signer())
        for name in ("one.db", "two.db")
    )
    try:
        a_one, a_two = (OrgClient(x, audit_ws.signer("AGENCY-A")) for x in (one, two))
        for i in range(3):
            tx = a_one.sign("submit", ev.independent(i))
            one.submit(tx)
            two.submit(tx)
        audit_witnesses.forget()
        asked = [w for w in endpoints(consortium) if w.org_id in ("AGENCY-A", "AGENCY-B")]
        Cosigner(one.engine, consortium).ask(asked, None)  # size 3, a quorum of two
        a_two.submit(ev.independent(11))  # size 4, the log's signature alone

        state = tmp_path / "watch.json"
        monitor = Monitor(state, consortium)  # the consortium's quorum
        seen = monitor.poll(ReaderSource(two.log))
        assert (seen.status, seen.new_size, seen.witnesses) == ("uncosigned", 4, ())
        assert not state.exists()
        seen = monitor.poll(ReaderSource(one.log))
        assert (seen.status, seen.new_size, len(seen.witnesses)) == ("first", 3, 2)
        assert monitor.poll(ReaderSource(two.log)).status == "uncosigned"  # extends it
        assert json.loads(state.read_text())["size"] == 3

        a_one.submit(ev.independent(10))  # size 4 of the history the witnesses see
        Cosigner(one.engine, consortium).ask(asked, None)
        seen = monitor.poll(ReaderSource(one.log))
        assert (seen.status, seen.old_size, seen.new_size) == ("extended", 3, 4)
        with pytest.raises(LogInconsistentError, match="LOG FORKED"):
            monitor.poll(ReaderSource(two.log))
        assert json.loads(state.read_text())["size"] == 4
    finally:
        one.close()
        two.close()
