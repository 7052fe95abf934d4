"""Fixtures of the service tier: the gateway's use cases called directly, no HTTP.

The gateway signs with the consortium's real keys and keeps its off-chain stores in
real SQLite files of this test's own; its ledger is tests/support/memory_ledger.py,
which runs the real contract and checks every signature. The consortium is made once
per session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger_gw.demo.consortium import DEMO
from ledger_gw.interfaces import Ledger, VerifiableLog
from ledger_gw.offchain.store import OffchainStore, org_url
from ledger_gw.pseudonym import PseudonymKey
from ledger_gw.services.access import Caller, authenticate, issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support.memory_ledger import MemoryLedger

MakeCaller = Callable[..., Caller]


@pytest.fixture(scope="session")
def consortium_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("service") / "ws"
    Workspace.create(root, DEMO)
    return root


def _no_log(ledger: Ledger) -> VerifiableLog:
    raise AssertionError("the service tier's in-memory ledger keeps no verifiable log")


@pytest.fixture
def gateway(consortium_dir: Path, tmp_path: Path) -> Iterator[Gateway]:
    """The one place that decides how the service tier's Gateway gets its ledger: the
    in-memory one, handed over as bootstrap hands over a real backend."""
    config = GatewayConfig(
        directory=consortium_dir,
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
    )
    ws = Workspace.load(consortium_dir)
    orgs = tuple(ws.consortium.organisations)
    memory = MemoryLedger(ws.consortium)
    gw = Gateway(
        config,
        ws,
        PseudonymKey.load(config.pseudonym_key_path),
        {org: ws.signer(org) for org in orgs},
        {org: OffchainStore(org, org_url(config.offchain, org)) for org in orgs},
        open_ledger=lambda: memory,
        open_log=_no_log,
    )
    gw.migrate()
    yield gw
    gw.close()


@pytest.fixture
def ledger(gateway: Gateway) -> MemoryLedger:
    assert isinstance(gateway.ledger, MemoryLedger)
    return gateway.ledger


@pytest.fixture
def caller(gateway: Gateway) -> MakeCaller:
    """caller("AGENCY-A", "agency-writer"): who a freshly issued bearer token stands for."""

    def make(org: str, role: str = "agency-writer") -> Caller:
        store = gateway.store(org)
        token = issue_token(store, gateway.org_role(org), role)[1]
        return authenticate(store, token)

    return make
