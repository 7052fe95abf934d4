"""Fixtures of the integration tier: real SQLite files, keys, signatures and processes.

The consortium (key generation is not free) is made once per session; every test
gets its own ledger file. Ledgers and engines made here are closed at teardown, so
no connection outlives its test.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.workspace import Workspace
from tests.support.cli import run_cli
from tests.support.ledgers import MakeClient, MakeLedger, Verify, verify_url
from tests.support.witnesses import TestWitnesses


@pytest.fixture(scope="session")
def session_witnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestWitnesses]:
    """AGENCY-A's and AUDITOR-X's witnesses, serving the session's consortium (quorum 2)."""
    ws = Workspace.create(tmp_path_factory.mktemp("consortium") / "ws", DEMO)
    running = TestWitnesses(ws, tmp_path_factory.mktemp("witnesses"))
    yield running
    running.close()


@pytest.fixture(scope="session")
def workspace(session_witnesses: TestWitnesses) -> Workspace:
    return session_witnesses.workspace


@pytest.fixture
def witnesses(session_witnesses: TestWitnesses) -> TestWitnesses:
    """The witnesses, with no memory of another test's ledger. A ledger pushes to them
    when made with ``witnesses=endpoints(workspace.consortium)``."""
    session_witnesses.forget()
    return session_witnesses


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """A fresh, empty ledger file for this test."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def make_ledger(workspace: Workspace, ledger_url: str) -> Iterator[MakeLedger]:
    """EmbeddedLedger(url=this test's file, demo consortium, log key, **options)."""
    opened: list[EmbeddedLedger] = []

    def make(url: str | None = None, **options: Any) -> EmbeddedLedger:
        ledger = EmbeddedLedger(
            url or ledger_url, workspace.consortium, workspace.log_signer(), **options
        )
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(make_ledger: MakeLedger) -> EmbeddedLedger:
    return make_ledger()


@pytest.fixture
def client(workspace: Workspace) -> MakeClient:
    """client(ledger, "AGENCY-A"): that organisation's signing handle on `ledger`."""

    def make(ledger: EmbeddedLedger, org_id: str) -> OrgClient:
        return OrgClient(ledger, workspace.signer(org_id))

    return make


@pytest.fixture
def verify(workspace: Workspace) -> Verify:
    """verify(url): full verification of a ledger file, engine disposed afterwards."""
    return lambda url: verify_url(url, workspace.consortium)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A local port another socket holds."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ledger-gw demo` run once for the module: a consortium with its journey logged."""
    directory = tmp_path_factory.mktemp("demo") / "demo"
    done = run_cli("demo", "--dir", str(directory))
    assert done.returncode == 0, done.stderr
    return directory
