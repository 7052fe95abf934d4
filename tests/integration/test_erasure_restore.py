"""A backup of an off-chain store taken before an erasure, restored: the person erased
since is not served again. The gateway keeps, apart from the store, a journal of the
registrations it erased, and erases them again when it next starts. An erasure killed
part-way is done at the next start, or may be sent again.

Real gateway, real SQLite ledger and off-chain store; the backup and the restore made
with SQLite's online backup API, as an operator's tooling would."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ledger_gw.bootstrap import open_gateway
from ledger_gw.errors import NotFoundError
from ledger_gw.services import registrations
from ledger_gw.services.config import GatewayConfig
from tests.support.disk import sqlite_copy
from tests.support.erasure import LAYLA, OMAR, WRITER, agency_config, holds, people


@pytest.fixture
def config(tmp_path: Path) -> GatewayConfig:
    return agency_config(tmp_path)


def test_a_store_restored_from_before_an_erasure_does_not_serve_her_again(
    config: GatewayConfig, tmp_path: Path
) -> None:
    store_file, backup = tmp_path / "offchain-AGENCY-A.db", tmp_path / "backup.db"
    gateway = open_gateway(config)
    layla = registrations.register(gateway, WRITER, LAYLA)
    omar = registrations.register(gateway, WRITER, OMAR)
    registrations.add_document(gateway, WRITER, layla["person_id"], "other", b"Zxcvbnm note")
    sqlite_copy(store_file, backup)  # the nightly backup
    registrations.erase(gateway, WRITER, layla["person_id"])
    again = registrations.register(gateway, WRITER, LAYLA)  # she came back, registered anew
    sqlite_copy(store_file, tmp_path / "later.db")  # a backup from after both
    gateway.close()

    sqlite_copy(backup, store_file)  # the store is lost and restored from last night's backup
    assert holds(tmp_path, b"Qwertzuiop")
    gateway = open_gateway(config)  # the gateway's next start
    try:
        assert people(gateway) == {omar["person_id"]}
        with pytest.raises(NotFoundError):
            registrations.get(gateway, WRITER, layla["person_id"])
        assert not holds(tmp_path, b"Qwertzuiop")  # nor her document
        assert not holds(tmp_path, b"Zxcvbnm")
    finally:
        gateway.close()

    sqlite_copy(tmp_path / "later.db", store_file)  # her new registration is not erased
    gateway = open_gateway(config)
    try:
        assert people(gateway) == {omar["person_id"], again["person_id"]}
    finally:
        gateway.close()
    journal = config.directory / "erased" / "AGENCY-A"
    assert journal.read_text() == f"{layla['person_id']}\n"  # a random ID, nothing of her
    assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600


KILLED = """
import os, sys
from pathlib import Path
from sqlalchemy import event
from ledger_gw.bootstrap import open_gateway
from ledger_gw.services import events, registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.config import GatewayConfig
from tests.support import events as ev

directory, tmp, at = sys.argv[1:]
config = GatewayConfig(
    directory=Path(directory), ledger_url=f"sqlite:///{tmp}/ledger.db",
    offchain_url=f"sqlite:///{tmp}/offchain-{{org}}.db", orgs=("AGENCY-A",),
)
gateway = open_gateway(config)
writer = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
person = registrations.register(gateway, writer, {
    "given_name": "Layla", "family_name": "Qwertzuiop", "date_of_birth": "1990-02-11"})
events.submit(gateway, writer, ev.consent_granted(person["pid"]))
print(person["person_id"], person["pid"], flush=True)

deleted = []

def statement(conn, cursor, sql, *_):
    if at == "before_deleting" and sql.startswith("SELECT persons.id"):
        os._exit(137)  # her consents withdrawn, her record about to be read and deleted
    deleted.append(sql.startswith("DELETE FROM persons"))

def commit(conn):
    if any(deleted):
        os._exit(137)  # her deletion written and journaled, not committed

store = gateway.store("AGENCY-A").engine
event.listen(store, "before_cursor_execute", statement)
event.listen(store, "commit", commit)
registrations.erase(gateway, writer, person["person_id"])
"""


@pytest.mark.parametrize("at", ["before_deleting", "before_committing"])
def test_an_erasure_killed_part_way_is_done_at_the_next_start_or_sent_again(
    config: GatewayConfig, tmp_path: Path, at: str
) -> None:
    """Killed once her consents are withdrawn and before her record is touched, she is
    there still and the request may be sent again; killed once her deletion is
    journaled and before it is committed, the next start erases her."""
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(config.directory), str(tmp_path), at],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert killed.returncode == 137, killed.stderr
    person_id, pid = killed.stdout.split()
    gateway = open_gateway(config)  # the gateway's next start
    try:
        consents = gateway.client(WRITER).query("consents", pid)["consents"]
        assert [c["active"] for c in consents] == [False]  # withdrawn before the kill
        if at == "before_deleting":
            assert people(gateway) == {person_id}
            assert registrations.erase(gateway, WRITER, person_id) == pid  # sent again
        assert people(gateway) == set()
    finally:
        gateway.close()
    assert not holds(tmp_path, b"Qwertzuiop")


def test_a_gateway_that_may_not_keep_the_journal_still_erases(
    config: GatewayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """Its directory taken (here by a file where the journal's directory goes, as a
    read-only mount would): said once at its start, and her erasure is not refused."""
    (config.directory / "erased").write_text("not a directory")
    gateway = open_gateway(config)
    try:
        assert "cannot keep the erasure journal of AGENCY-A" in caplog.text
        layla = registrations.register(gateway, WRITER, LAYLA)
        registrations.erase(gateway, WRITER, layla["person_id"])
        assert people(gateway) == set()
    finally:
        gateway.close()
    assert (config.directory / "erased").read_text() == "not a directory"
