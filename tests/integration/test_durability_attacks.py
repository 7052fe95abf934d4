"""What the embedded ledger acknowledges is durable, under attacks on its storage: its
SQLite file deleted or replaced under the running ledger, and the disk filling up in
the middle of a group commit. Real SQLite files, real signatures, real threads."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, make_url

from ledger_gw.embedded.database import make_engine
from ledger_gw.errors import NotFoundError, UnavailableError
from ledger_gw.interfaces import Outcome
from tests.support.disk import lose_sqlite
from tests.support.events import independent
from tests.support.ledgers import MakeClient, MakeLedger, Verify


def _absent(ledger: Any, tx_id: str) -> bool:
    try:
        ledger.log.position_of(tx_id)
    except NotFoundError:
        return True
    return False


@pytest.mark.parametrize("lost", ["replaced by a backup", "deleted"])
def test_nothing_is_acknowledged_into_a_file_no_longer_at_the_ledgers_path(
    make_ledger: MakeLedger,
    client: MakeClient,
    ledger_url: str,
    tmp_path: Path,
    verify: Verify,
    lost: str,
) -> None:
    """The running ledger's connections keep the file they opened: appends committed into
    it after it was deleted, or replaced by a restored backup, would be answered as logged
    and be gone at the next start. They are refused, and the file at the path is left as
    it was put there."""
    path = Path(str(make_url(ledger_url).database))
    ledger = make_ledger()
    agency = client(ledger, "AGENCY-A")
    before = agency.submit_many([independent(i) for i in range(3)])
    assert [o.position for o in before] == [0, 1, 2]
    if lost == "deleted":
        lose_sqlite(path)
    else:
        backup = tmp_path / "backup.db"
        with sqlite3.connect(path) as source, sqlite3.connect(backup) as copy:
            source.backup(copy)
        os.replace(backup, path)

    after = agency.submit_many([independent(i) for i in range(3, 6)])
    assert all(o.position is None for o in after), "acknowledged into a lost file"
    assert all(isinstance(o.error, UnavailableError) for o in after)
    assert {o.error.code for o in after if o.error} == {"ledger_unavailable"}
    ledger.close()

    if lost == "deleted":
        assert not path.exists()
        return
    restored = make_ledger()
    assert restored.size() == 3
    assert all(_absent(restored, o.tx_id) for o in after)
    assert verify(ledger_url).size == 3


def test_a_full_disk_fails_every_call_of_the_group_and_writes_none_of_it(
    client: MakeClient, make_ledger: MakeLedger, ledger_url: str, verify: Verify
) -> None:
    """The database may grow no further (SQLite's max_page_count, as a full disk) while
    threads' calls are committed together: each call either logged in full, at positions
    that follow one another, or answered as unavailable with none of it written; and the
    ledger appends again once there is room."""
    engine = make_engine(ledger_url)
    with engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

    @event.listens_for(engine, "connect")
    def _limited(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 12}")

    engine.dispose()  # every connection from now on has the limit
    ledger = make_ledger(engine)
    agency = client(ledger, "AGENCY-A")
    calls: list[list[Outcome]] = []
    lock = threading.Lock()

    def submit(k: int) -> None:
        for round_ in range(12):
            outcomes = agency.submit_many(
                [independent(1000 * k + 10 * round_ + i) for i in range(1 + k % 4)]
            )
            with lock:
                calls.append(outcomes)

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.close()

    logged = [o for outcomes in calls if outcomes[0].error is None for o in outcomes]
    failed = [o for outcomes in calls if outcomes[0].error is not None for o in outcomes]
    assert logged, "the disk was full from the start"
    assert failed, "the disk never filled up"
    assert all(o.error is None and o.position is not None for o in logged)
    assert all(isinstance(o.error, UnavailableError) and o.position is None for o in failed)
    assert sorted(o.position for o in logged if o.position is not None) == list(range(len(logged)))

    reopened = make_ledger()  # room again
    assert reopened.size() == len(logged)
    assert all(reopened.log.position_of(o.tx_id) == o.position for o in logged)
    assert all(_absent(reopened, o.tx_id) for o in failed)
    (next_one,) = client(reopened, "AGENCY-A").submit_many([independent(0)])
    assert (next_one.error, next_one.position) == (None, len(logged))
    assert verify(ledger_url).size == len(logged) + 1
