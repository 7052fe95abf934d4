"""`ledger-gw verify` against the operator who holds the log key (node/log.key): a log
rebuilt without one event, from the members' genuine signed transactions, and re-signed
with that key alone verifies entry by entry and checkpoint by checkpoint. What the
operator cannot make is its witnesses' cosignatures: some checkpoint must carry the
pinned consortium's witness quorum, and how far the quorum vouches for the log is
reported. A rewrite from position k is witnessed up to k at most; an honest live log
up to where its witnesses caught up, its newest entries waiting for them.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from ledger_gw.bootstrap import verify_embedded
from ledger_gw.client import OrgClient
from ledger_gw.embedded.database import reading_engine
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.reader import LogReader
from ledger_gw.embedded.verify import VerifyReport, require_witnessed, verify_ledger
from ledger_gw.embedded.witnessing import endpoints
from ledger_gw.errors import IntegrityError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.entry import Entry
from ledger_gw.transaction import SignedTransaction
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli
from tests.support.events import independent
from tests.support.witnesses import TestWitnesses, settled

K = 4  # the witnesses cosigned the log at this size before it went on
SIZE = 7


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _build(workspace: Workspace, path: Path, *, witnessed_after: bool) -> Path:
    """K events its witnesses cosigned, then SIZE - K more, offered to them too when
    ``witnessed_after`` (else appended while they were down)."""
    consortium = workspace.consortium
    for start, end, pushed in ((0, K, True), (K, SIZE, witnessed_after)):
        shown = endpoints(consortium) if pushed else ()
        ledger = EmbeddedLedger(_url(path), consortium, workspace.log_signer(), witnesses=shown)
        try:
            client = OrgClient(ledger, workspace.signer("AGENCY-A"))
            for i in range(start, end):
                client.submit(independent(i))
            if pushed:
                settled(ledger)
        finally:
            ledger.close()
    return path


@pytest.fixture
def genuine(workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path) -> Path:
    return _build(workspace, tmp_path / "genuine.db", witnessed_after=True)


def _notes(path: Path) -> dict[int, str]:
    with closing(sqlite3.connect(path)) as db:
        return {int(s): str(n) for s, n in db.execute("SELECT size, note FROM checkpoints")}


def _store_notes(path: Path, notes: dict[int, str]) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "UPDATE checkpoints SET note = ? WHERE size = ?", [(n, s) for s, n in notes.items()]
        )


def _resigned(workspace: Workspace, source: Path, target: Path, dropped: int) -> Path:
    """``source`` rebuilt with the log key alone, the event at ``dropped`` left out: the
    members' own signed transactions, appended in order under their own times."""
    engine = reading_engine(_url(source))
    try:
        reader = LogReader(engine)
        certificates = reader.certificates()
        txs = [
            SignedTransaction.of_entry(Entry.from_bytes(data), certificates)
            for position, data in reader.entries()
            if position != dropped
        ]
    finally:
        engine.dispose()
    at = [txs[0].proposal.time]
    ledger = EmbeddedLedger(
        _url(target), workspace.consortium, workspace.log_signer(), clock=lambda: at[0]
    )
    try:
        for tx in txs:
            at[0] = tx.proposal.time
            ledger.submit(tx)
    finally:
        ledger.close()
    return target


def _verify(workspace: Workspace, path: Path) -> VerifyReport:
    return verify_ledger(_url(path), workspace.consortium, workers=1)


def _verify_cli(
    workspace: Workspace, path: Path, directory: Path | None = None, *, pinned: bool = True
) -> subprocess.CompletedProcess[str]:
    """`ledger-gw verify` on ``path``, the workspace's consortium file pinned."""
    pin = ["--consortium", str(workspace.consortium_file)] if pinned else []
    directory = directory or workspace.root
    return run_cli("verify", "--dir", str(directory), "--ledger", _url(path), *pin)


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join(done.stdout.split())


def test_a_witnessed_log_reports_how_far_its_quorum_vouches(
    workspace: Workspace, genuine: Path
) -> None:
    report = require_witnessed(_verify(workspace, genuine), workspace.consortium)
    assert (report.size, report.witnessed_size) == (SIZE, SIZE)
    assert report.cosignatures >= 2 * 2  # both witnesses, at K and at SIZE
    done = _verify_cli(workspace, genuine)
    assert done.returncode == 0, done.stderr
    assert f"witnessed by the quorum (2) up to size {SIZE} of {SIZE}" in _said(done)


def test_a_log_resigned_by_the_log_key_alone_is_refused(
    workspace: Workspace, genuine: Path, tmp_path: Path
) -> None:
    forged = _resigned(workspace, genuine, tmp_path / "forged.db", dropped=2)
    report = _verify(workspace, forged)  # every entry, node and signature holds
    assert (report.size, report.cosignatures, report.witnessed_size) == (SIZE - 1, 0, 0)
    with pytest.raises(IntegrityError) as caught:
        require_witnessed(report, workspace.consortium)
    assert caught.value.code == "not_witnessed"
    with pytest.raises(IntegrityError) as caught:
        verify_embedded(workspace, _url(forged), workers=1)
    assert caught.value.code == "not_witnessed"

    done = _verify_cli(workspace, forged)
    line = clean_failure(done)
    assert "not_witnessed" in line
    assert f"no checkpoint of the log's {SIZE - 1} entries" in line
    assert "ledger verifies" not in done.stdout


def test_cosignatures_by_keys_the_operator_holds_do_not_count(
    workspace: Workspace, genuine: Path, tmp_path: Path
) -> None:
    """Its log key as a cosigner, and a key of its own under a listed witness's name."""
    forged = _resigned(workspace, genuine, tmp_path / "forged.db", dropped=2)
    impostor, _ = ckpt.generate_signer("witness.auditor-x")
    cosigned = {
        size: ckpt.add_cosignature(
            ckpt.add_cosignature(note, workspace.log_signer(), 1_700_000_000),
            impostor,
            1_700_000_000,
        )
        for size, note in _notes(forged).items()
    }
    _store_notes(forged, cosigned)
    report = _verify(workspace, forged)
    assert (report.cosignatures, report.witnessed_size) == (0, 0)
    with pytest.raises(IntegrityError) as caught:
        require_witnessed(report, workspace.consortium)
    assert caught.value.code == "not_witnessed"


def test_a_rewrite_from_position_k_is_witnessed_up_to_k_at_most(
    workspace: Workspace, genuine: Path, tmp_path: Path
) -> None:
    """The operator keeps the witnesses' cosignatures where the history is the one they
    saw; past the rewrite no cosigned root matches."""
    forged = _resigned(workspace, genuine, tmp_path / "forged.db", dropped=K)
    cosigned = _notes(genuine)
    _store_notes(forged, {s: n for s, n in cosigned.items() if s <= K})
    report = require_witnessed(_verify(workspace, forged), workspace.consortium)
    assert (report.size, report.witnessed_size) == (SIZE - 1, K)
    done = _verify_cli(workspace, forged)
    assert done.returncode == 0, done.stderr
    tail = SIZE - 1 - K
    assert f"up to size {K} of {SIZE - 1} ({tail} newest not yet cosigned)" in _said(done)

    _store_notes(forged, {K + 1: cosigned[K + 1]})
    with pytest.raises(IntegrityError, match=f"checkpoint {K + 1} root does not match"):
        _verify(workspace, forged)


def test_the_newest_entries_not_yet_cosigned_are_reported_not_refused(
    workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path
) -> None:
    live = _build(workspace, tmp_path / "live.db", witnessed_after=False)
    report = require_witnessed(_verify(workspace, live), workspace.consortium)
    assert (report.size, report.witnessed_size) == (SIZE, K)
    done = _verify_cli(workspace, live)
    assert done.returncode == 0, done.stderr
    assert f"up to size {K} of {SIZE} ({SIZE - K} newest not yet cosigned)" in _said(done)


def test_the_quorum_is_the_pinned_files_not_the_handed_over_ones(
    workspace: Workspace, genuine: Path, tmp_path: Path
) -> None:
    """The directory handed over with the forged log says its consortium wants no
    witness: the file the auditor pins says two."""
    forged = _resigned(workspace, genuine, tmp_path / "forged.db", dropped=2)
    handed_over = tmp_path / "handed-over"
    shutil.copytree(workspace.root, handed_over)
    replace(workspace.consortium, witness_quorum=0).save(handed_over / "consortium.json")
    unpinned = _verify_cli(workspace, forged, handed_over, pinned=False)
    assert "trust_root_not_pinned" in clean_failure(unpinned)  # never the copy's quorum of 0
    assert "not_witnessed" in clean_failure(_verify_cli(workspace, forged, handed_over))


def test_a_consortium_that_asks_no_quorum_verifies_an_unwitnessed_log(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.db"
    ledger = EmbeddedLedger(_url(path), workspace.consortium, workspace.log_signer())
    try:
        OrgClient(ledger, workspace.signer("AGENCY-A")).submit(independent(0))
    finally:
        ledger.close()
    none_asked = replace(workspace.consortium, witness_quorum=0)
    report = verify_ledger(_url(path), none_asked, workers=1)
    assert require_witnessed(report, none_asked).witnessed_size == 1


def test_an_empty_log_needs_no_witness(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    EmbeddedLedger(_url(path), workspace.consortium, workspace.log_signer()).close()
    report = require_witnessed(_verify(workspace, path), workspace.consortium)
    assert (report.size, report.witnessed_size) == (0, 0)
