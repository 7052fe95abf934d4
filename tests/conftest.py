"""Fixtures for every tier: a throwaway PostgreSQL the tests start themselves (initdb +
pg_ctl), or a clear skip."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger_gw.demo.consortium import DEMO
from ledger_gw.workspace import Workspace
from tests.support.witnesses import TestWitnesses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """postgresql+psycopg://… of a fresh cluster; {db} is left to the caller."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL tests need pg_ctl and initdb (apt-get install postgresql)")
    # Not under pytest's temporary root: as root, that is closed to the postgres user.
    base = Path(tempfile.mkdtemp(prefix="ledger-gw-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data}"
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"),
         "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,  # the server inherits no pipe of ours
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[Callable[..., str]]:
    """make(): the URL of a fresh, empty database on the session's cluster; make(*orgs):
    an off-chain URL template (``{org_slug}``) whose database for each organisation
    exists. Every one is dropped after the test."""
    admin = create_engine(postgres_url + "postgres", isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(*orgs: str) -> str:
        name = f"t{uuid.uuid4().hex[:12]}"
        names = [f"{name}_{org.lower().replace('-', '_')}" for org in orgs] or [name]
        with admin.connect() as conn:
            for each in names:
                conn.execute(text(f'CREATE DATABASE "{each}"'))
                made.append(each)
        return postgres_url + (f"{name}_{{org_slug}}" if orgs else name)

    yield make
    with admin.connect() as conn:
        for each in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{each}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[TestWitnesses]:
    """The demo consortium whose auditor runs a witness (a server of its own, in a
    thread), quorum one."""
    witnesses = TestWitnesses(
        Workspace.create(tmp_path / "ws", DEMO), tmp_path / "witnesses", ["AUDITOR-X"], quorum=1
    )
    yield witnesses
    witnesses.close()
