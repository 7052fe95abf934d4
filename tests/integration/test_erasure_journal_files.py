"""The erasure journal (``erased/<ORG>``) on hostile file systems, and what the
off-chain store lets out of her when a statement fails.

A journal this gateway may not write (an immutable directory, a read-only mount) is
still read: a backup restored from before an erasure it names does not serve her again.
One that cannot be read refuses the start, naming it. A start that does not migrate
(LEDGER_GW_MIGRATE=0, api.wsgi under another server) erases again all the same. A
failing statement's message carries none of her attributes.

Real gateway, real SQLite ledger and off-chain stores (and a real PostgreSQL), real
chattr and bind mounts: a test skips when this machine permits neither."""

from __future__ import annotations

import os
import subprocess
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from ledger_gw.bootstrap import config_from_env, open_gateway
from ledger_gw.errors import ConfigError, NotFoundError, UnavailableError
from ledger_gw.offchain.models import Person
from ledger_gw.services import registrations
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from tests.support.disk import sqlite_copy
from tests.support.erasure import LAYLA, OMAR, WRITER, agency_config, holds, people
from tests.support.gateways import gateway_on


@pytest.fixture
def config(tmp_path: Path) -> GatewayConfig:
    return agency_config(tmp_path)


def _erased_after_a_backup(config: GatewayConfig, tmp_path: Path) -> tuple[str, str]:
    """Layla and Omar registered, her document kept, the store backed up, then Layla
    erased (and noted in the journal), and the store restored from that backup with the
    gateway stopped: it holds her again. Returns (Layla's, Omar's) person IDs."""
    store_file, backup = tmp_path / "offchain-AGENCY-A.db", tmp_path / "backup.db"
    gateway = open_gateway(config)
    try:
        layla = registrations.register(gateway, WRITER, LAYLA)
        omar = registrations.register(gateway, WRITER, OMAR)
        registrations.add_document(gateway, WRITER, layla["person_id"], "other", b"Zxcvbnm")
        sqlite_copy(store_file, backup)
        registrations.erase(gateway, WRITER, layla["person_id"])
    finally:
        gateway.close()
    assert (config.directory / "erased" / "AGENCY-A").read_text() == f"{layla['person_id']}\n"
    sqlite_copy(backup, store_file)
    assert holds(tmp_path, b"Qwertzuiop")
    return layla["person_id"], omar["person_id"]


def _run(*command: str) -> bool:
    """Whether this machine let root run it (a container may refuse chattr or mount)."""
    try:
        return subprocess.run(command, capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


@contextmanager
def _read_only(directory: Path, how: str) -> Iterator[None]:
    """``directory`` and what it holds made unwritable, even by root, until the block
    ends; undone whatever happens. Skips the test when not permitted here."""
    if how == "immutable":
        held = [directory, *directory.iterdir()]
        if not _run("chattr", "+i", str(directory)):
            pytest.skip("chattr +i is not permitted here")
        try:
            for each in held[1:]:
                assert _run("chattr", "+i", str(each))
            yield
        finally:
            for each in held:
                _run("chattr", "-i", str(each))
    else:
        if not _run("mount", "--bind", "-o", "ro", str(directory), str(directory)):
            pytest.skip("a read-only bind mount is not permitted here")
        try:
            yield
        finally:
            assert _run("umount", str(directory))
    assert os.access(directory, os.W_OK)  # undone


@pytest.mark.parametrize("how", ["immutable", "read-only mount"])
def test_a_journal_it_may_not_write_is_still_read_and_she_is_not_served_again(
    config: GatewayConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    """The journal names her and is readable; only writing it is denied. The start says
    it cannot keep the journal, erases her again all the same, and a new erasure goes on,
    unnoted, the journal as it was."""
    layla, omar = _erased_after_a_backup(config, tmp_path)
    erased = config.directory / "erased"
    journal = (erased / "AGENCY-A").read_bytes()
    with _read_only(erased, how):
        gateway = open_gateway(config)  # the gateway's next start
        try:
            assert "cannot keep the erasure journal of AGENCY-A" in caplog.text
            assert people(gateway) == {omar}
            with pytest.raises(NotFoundError):
                registrations.get(gateway, WRITER, layla)
            registrations.erase(gateway, WRITER, omar)  # erasures go on
            assert people(gateway) == set()
        finally:
            gateway.close()
        assert (erased / "AGENCY-A").read_bytes() == journal
    assert not holds(tmp_path, b"Qwertzuiop")
    assert not holds(tmp_path, b"Zxcvbnm")  # her document with her


@contextmanager
def _a_writer_comes_by(fifo: Path) -> Iterator[None]:
    """Opens ``fifo`` for writing, then closes it, as soon as someone reads it: one who
    waits for a writer (as a plain open does) then reads it empty instead of hanging."""
    done = threading.Event()

    def write() -> None:
        while not done.wait(0.05):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader yet
                continue

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.mark.parametrize("migrate", ["1", "0"])
@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_journal_that_cannot_be_read_refuses_the_start_naming_it(
    config: GatewayConfig, tmp_path: Path, kind: str, migrate: str
) -> None:
    """``erased/AGENCY-A`` a directory, or a FIFO (whose plain open would wait for a
    writer forever): a ConfigError with a stable code that names the path, not a raw
    OSError; started without it, the store would serve again whom it names."""
    open_gateway(config).close()  # its first start made its store
    journal = config.directory / "erased" / "AGENCY-A"
    if kind == "directory":
        journal.mkdir()
    else:
        os.mkfifo(journal, 0o600)
    env = {
        "LEDGER_GW_DIR": str(config.directory),
        "LEDGER_GW_LEDGER_URL": config.ledger,
        "LEDGER_GW_OFFCHAIN_URL": config.offchain,
        "LEDGER_GW_ORGS": "AGENCY-A",
        "LEDGER_GW_MIGRATE": migrate,
    }
    with _a_writer_comes_by(journal), pytest.raises(ConfigError) as refused:
        open_gateway(config_from_env(env)).close()
    assert refused.value.code == "erasure_journal_unreadable"
    assert str(journal) in str(refused.value)


def test_a_start_that_does_not_migrate_does_not_serve_her_again(
    config: GatewayConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """LEDGER_GW_MIGRATE=0, as for api.wsgi under a server of its own whose migrations
    run elsewhere: the start changes no schema, but erases again whom the journal names,
    her document with her, and purges what was deleted from the files."""
    layla, omar = _erased_after_a_backup(config, tmp_path)
    env = {
        "LEDGER_GW_DIR": str(config.directory),
        "LEDGER_GW_LEDGER_URL": config.ledger,
        "LEDGER_GW_OFFCHAIN_URL": config.offchain,
        "LEDGER_GW_ORGS": "AGENCY-A",
        "LEDGER_GW_MIGRATE": "0",
    }
    gateway = open_gateway(config_from_env(env))
    try:
        assert "held 1 people erased since" in caplog.text
        assert people(gateway) == {omar}
        with pytest.raises(NotFoundError):
            registrations.get(gateway, WRITER, layla)
    finally:
        gateway.close()
    assert not holds(tmp_path, b"Qwertzuiop")
    assert not holds(tmp_path, b"Zxcvbnm")


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(
    request: pytest.FixtureRequest, config: GatewayConfig, tmp_path: Path
) -> Iterator[Gateway]:
    with gateway_on(request, config.directory, tmp_path, ("AGENCY-A",)) as gw:
        yield gw


def test_a_failing_statement_s_message_holds_none_of_her_attributes(gateway: Gateway) -> None:
    """A registration written twice under one pseudonymous ID (the unique key refuses
    it): the error, its cause and the traceback a log would print name the statement,
    not the values bound to it, which are her attributes."""
    layla = registrations.register(gateway, WRITER, LAYLA)
    store = gateway.store("AGENCY-A")
    with pytest.raises(UnavailableError) as failed, store.session() as s:
        s.add(Person(id=str(uuid.uuid4()), pid=layla["pid"], attributes=LAYLA))
    assert isinstance(failed.value.__cause__, IntegrityError)
    logged = "".join(traceback.format_exception(failed.value))
    leaked = [value for value in LAYLA.values() if value in logged]
    assert leaked == []
    assert "INSERT INTO persons" in logged  # the statement is named
    assert "SQL parameters hidden" in logged
