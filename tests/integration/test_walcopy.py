"""The WAL is copied into the database file in the background, after each commit.

Observed from the database file alone (a copy of it, without its WAL): what SQLite's
own checkpoint would copy only every few thousand pages is there soon after a commit.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from ledger_gw.client import OrgClient
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeLedger


def _entries_in_file_alone(db: Path, scratch: Path) -> int:
    copy = scratch / "alone.db"
    shutil.copyfile(db, copy)  # the WAL and its index stay behind
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM log").fetchone()[0])
    except sqlite3.DatabaseError:  # not even the tables copied yet, or copied mid-write
        return 0
    finally:
        conn.close()


def test_commits_reach_the_database_file_without_waiting_for_sqlite(
    make_ledger: MakeLedger, workspace: Workspace, tmp_path: Path
) -> None:
    ledger = make_ledger()
    agency = OrgClient(ledger, workspace.signer("AGENCY-A"))
    agency.submit_many([ev.entitlement_granted(ev.pid()) for _ in range(20)])
    db = tmp_path / "ledger.db"
    assert (tmp_path / "ledger.db-wal").stat().st_size > 0
    deadline = time.monotonic() + 10
    while _entries_in_file_alone(db, tmp_path) < 20:
        assert time.monotonic() < deadline, "the WAL was not copied into the database"
        time.sleep(0.05)
    assert ledger.size() == 20
