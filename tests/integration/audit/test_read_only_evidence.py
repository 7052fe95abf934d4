"""An auditor's checks read the ledger they are given and change no byte of it.

A copy of a ledger handed to an auditor is evidence: its hash may be on record, and a
check that rewrites it (to WAL mode, with tables it lacked) leaves the auditor holding
a different file from the one received. Every read-only command opens the file
read-only, so that any write is refused by SQLite itself.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ledger_gw.client import OrgClient
from ledger_gw.embedded.database import reading_engine
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, own_pin, run_cli
from tests.support.events import story
from tests.support.ledgers import MakeLedger

SIZE = len(story())


def _fill(ledger: EmbeddedLedger, workspace: Workspace) -> None:
    clients: dict[str, OrgClient] = {}
    for org, event in story():
        clients.setdefault(org, OrgClient(ledger, workspace.signer(org))).submit(event)


@pytest.fixture(scope="module")
def made(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("made") / "ledger.db"
    ledger = EmbeddedLedger(f"sqlite:///{path}", workspace.consortium, workspace.log_signer())
    try:
        _fill(ledger, workspace)
    finally:
        ledger.close()
    return path


@pytest.fixture
def evidence(made: Path, tmp_path: Path) -> Path:
    """A ledger as an auditor receives it: one file, in SQLite's default journal mode,
    in a directory whose name a URI must escape."""
    received = tmp_path / "case 7, 100% #2" / "ledger.db"
    received.parent.mkdir()
    with closing(sqlite3.connect(made)) as src, closing(sqlite3.connect(received)) as dst:
        src.backup(dst)
        assert dst.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    return received


def _fingerprint(path: Path) -> tuple[str, list[str]]:
    listing = sorted(p.name for p in path.parent.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest(), listing


def test_verify_changes_no_byte(workspace: Workspace, evidence: Path) -> None:
    before = _fingerprint(evidence)
    report = verify_ledger(f"sqlite:///{evidence}", workspace.consortium, workers=1)
    assert report.size == SIZE
    assert _fingerprint(evidence) == before
    with closing(sqlite3.connect(evidence)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


@pytest.mark.slow
def test_read_only_commands_change_no_byte(
    workspace: Workspace, evidence: Path, tmp_path: Path
) -> None:
    """As a user runs them: verify, a proof, a checkpoint, a referral chain."""
    before = _fingerprint(evidence)
    url = f"sqlite:///{evidence}"
    unwitnessed = tmp_path / "consortium.json"  # the ledger was never shown to its witnesses
    replace(workspace.consortium, witness_quorum=0).save(unwitnessed)
    for args in (
        ["verify", "--workers", "2", "--consortium", str(unwitnessed)],
        ["prove", "inclusion", "--index", "3"],
        ["checkpoint", "show"],
    ):
        done = run_cli(*args, "--dir", str(workspace.root), "--ledger", url)
        assert done.returncode == 0, done.stderr
    assert _fingerprint(evidence) == before


def test_a_reader_cannot_write(evidence: Path) -> None:
    engine = reading_engine(f"sqlite:///{evidence}")
    try:
        with pytest.raises(OperationalError, match="readonly"), engine.begin() as conn:
            conn.execute(text("DELETE FROM checkpoints"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM log")).scalar_one() == SIZE
    finally:
        engine.dispose()


def test_a_file_missing_a_table_is_refused_not_repaired(
    workspace: Workspace, evidence: Path, tmp_path: Path
) -> None:
    """Where the old check created the missing table, it now reports the file as unusable."""
    damaged = tmp_path / "ledger.db"
    damaged.write_bytes(evidence.read_bytes())
    with closing(sqlite3.connect(damaged)) as db:
        db.execute("DROP TABLE nodes")
    before = _fingerprint(damaged)
    line = clean_failure(
        run_cli(
            "verify",
            *("--dir", str(workspace.root), *own_pin(workspace.root)),
            *("--ledger", f"sqlite:///{damaged}"),
        )
    )
    assert "no such table: nodes" in line
    assert _fingerprint(damaged) == before


def test_a_live_ledger_reads_through_its_log(workspace: Workspace, make_ledger: MakeLedger) -> None:
    """A ledger still being written keeps recent commits in its write-ahead log, which a
    read-only reader reads without checkpointing it."""
    ledger = make_ledger()
    _fill(ledger, workspace)
    url = ledger.engine.url.render_as_string(hide_password=False)
    report = verify_ledger(url, workspace.consortium, workers=1)
    assert report.size == SIZE
