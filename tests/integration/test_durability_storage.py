"""What the embedded ledger acknowledged stays, when its storage goes wrong under it: a
backup restored in place while it runs, a disk that fills up, a truncated file, and a
PostgreSQL database whose default lets a commit return before its WAL is flushed. Real
SQLite files on a real (small) file system, a real PostgreSQL, real signatures."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, exc, make_url, text

from ledger_gw.embedded.database import appending_connection
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.errors import NotFoundError, UnavailableError
from ledger_gw.interfaces import Outcome
from ledger_gw.workspace import Workspace
from tests.support.disk import sqlite_copy
from tests.support.events import independent
from tests.support.ledgers import MakeClient, MakeLedger, Verify


def _absent(ledger: EmbeddedLedger, tx_id: str) -> bool:
    try:
        ledger.log.position_of(tx_id)
    except NotFoundError:
        return True
    return False


def test_a_backup_restored_in_place_under_the_running_ledger_is_not_appended_to(
    make_ledger: MakeLedger, client: MakeClient, ledger_url: str, tmp_path: Path, verify: Verify
) -> None:
    """Restored through SQLite itself (the backup API, as `sqlite3 ledger.db '.restore
    …'`), the older copy is the same file at the same path, which the running ledger
    goes on reading: appended to, it would give positions it already acknowledged to
    other transactions and sign checkpoints of a second history. The ledger held more,
    so it refuses, and leaves the copy as it was put there; the latest copy put back,
    it appends again."""
    path = Path(str(make_url(ledger_url).database))
    ledger = make_ledger()
    agency = client(ledger, "AGENCY-A")
    assert [o.position for o in agency.submit_many([independent(i) for i in range(3)])] == [0, 1, 2]
    sqlite_copy(path, tmp_path / "nightly.db")
    later = agency.submit_many([independent(i) for i in range(3, 6)])
    assert [o.position for o in later] == [3, 4, 5]
    sqlite_copy(path, tmp_path / "latest.db")

    sqlite_copy(tmp_path / "nightly.db", path)
    refused = agency.submit_many([independent(i) for i in range(6, 9)])
    assert all(o.position is None for o in refused), "appended over acknowledged positions"
    assert {o.error.code for o in refused if o.error} == {"log_rolled_back"}
    with pytest.raises(UnavailableError) as not_ready:
        ledger.ready()
    assert not_ready.value.code == "log_rolled_back"
    assert ledger.size() == 3
    assert verify(ledger_url).size == 3

    sqlite_copy(tmp_path / "latest.db", path)
    (again,) = agency.submit_many([independent(9)])
    assert (again.error, again.position) == (None, 6)
    assert all(ledger.log.position_of(o.tx_id) == o.position for o in later)
    assert all(_absent(ledger, o.tx_id) for o in refused)
    assert verify(ledger_url).size == 7


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """A 2 MiB tmpfs of this test's own; ``resize("8m")`` gives it room. Skips where
    mounting is not permitted (not root, or no capability in a container)."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")

    def resize(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(where)], check=True)

    try:
        yield resize
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_refuses_appends_saying_so_and_loses_nothing_acknowledged(
    small_disk: Callable[[str], None],
    make_ledger: MakeLedger,
    client: MakeClient,
    tmp_path: Path,
    verify: Verify,
) -> None:
    """The file system itself runs out of room (ENOSPC on the write-ahead log), single
    events and batches alike: each refused call is unavailable, says the disk is full
    (what the operator must act on), and wrote nothing; the ledger reopens on the full
    disk with every acknowledged transaction where it was acknowledged, verifies, and
    appends again once there is room."""
    url = f"sqlite:///{tmp_path / 'disk' / 'ledger.db'}"
    ledger = make_ledger(url)
    agency = client(ledger, "AGENCY-A")
    acked: list[Outcome] = []
    refused: list[Outcome] = []
    sent = 0
    while len(refused) < 8:
        assert sent < 2000, "the disk never filled up"
        many = 1 if sent % 3 else 4
        outcomes = agency.submit_many([independent(sent + i) for i in range(many)])
        sent += many
        for o in outcomes:
            (acked if o.error is None else refused).append(o)
    assert acked, "the disk was full from the start"
    assert all(isinstance(o.error, UnavailableError) for o in refused)
    assert all(o.position is None for o in refused)
    said = {str(o.error) for o in refused}
    assert all("disk is full" in s for s in said), said
    assert sorted(o.position for o in acked) == list(range(len(acked)))
    ledger.close()

    reopened = make_ledger(url)  # the disk still full
    assert reopened.size() == len(acked)
    assert all(reopened.log.position_of(o.tx_id) == o.position for o in acked)
    assert all(_absent(reopened, o.tx_id) for o in refused)
    assert verify(url).size == len(acked)

    small_disk("8m")
    (next_one,) = client(reopened, "AGENCY-A").submit_many([independent(sent)])
    assert (next_one.error, next_one.position) == (None, len(acked))
    reopened.close()
    assert verify(url).size == len(acked) + 1


def test_a_truncated_ledger_file_is_refused_at_open(
    make_ledger: MakeLedger, client: MakeClient, ledger_url: str
) -> None:
    """A copy cut short (a full disk while copying, a transfer broken off) names pages
    it no longer holds: SQLite refuses it as malformed before anything is appended."""
    path = Path(str(make_url(ledger_url).database))
    ledger = make_ledger()
    client(ledger, "AGENCY-A").submit_many([independent(i) for i in range(40)])
    ledger.close()
    assert not Path(f"{path}-wal").exists()  # all of it in the file
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(exc.DatabaseError, match="malformed"):
        make_ledger()


def test_postgresql_commits_are_flushed_whatever_the_database_defaults_to(
    pg_database: Callable[..., str],
    postgres_url: str,
    workspace: Workspace,
    client: MakeClient,
) -> None:
    """A database (or role, or server) set to ``synchronous_commit = off`` lets a commit
    return before its WAL reaches the disk, and a crash of the server then loses it
    although it was acknowledged. The ledger's sessions commit synchronously anyway, the
    writer's own included; the database's default is left as it was."""
    url = pg_database()
    name = make_url(url).database
    admin = create_engine(postgres_url + "postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        admin.dispose()
    ledger = EmbeddedLedger(url, workspace.consortium, workspace.log_signer())
    try:
        (done,) = client(ledger, "AGENCY-A").submit_many([independent(0)])
        assert (done.error, done.position) == (None, 0)
        writer = appending_connection(ledger.engine)  # as the ledger's writer opens its own
        try:
            said = writer.exec_driver_sql("SHOW synchronous_commit").scalar_one()
        finally:
            writer.close()
        assert said == "on"
    finally:
        ledger.close()
    other = create_engine(url)
    try:
        with other.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "off"
    finally:
        other.dispose()
