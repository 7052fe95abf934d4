"""Fixtures of the HTTP tier: a real gateway (keys, SQLite ledger and off-chain files) behind
Flask's test client. The consortium is made once per session; each test gets fresh files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import Api, Tokens
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.services.access import ROLES_FOR_ORG, issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support.witnesses import TestWitnesses


@pytest.fixture(scope="session")
def session_witnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestWitnesses]:
    """AGENCY-A's and AUDITOR-X's witnesses, serving the session's consortium (quorum 2)."""
    root = tmp_path_factory.mktemp("gateway") / "ws"
    running = TestWitnesses(Workspace.create(root, DEMO), tmp_path_factory.mktemp("witnesses"))
    yield running
    running.close()


@pytest.fixture(scope="session")
def consortium_dir(session_witnesses: TestWitnesses) -> Path:
    return session_witnesses.workspace.root


@pytest.fixture
def witnesses(session_witnesses: TestWitnesses) -> TestWitnesses:
    return session_witnesses


@pytest.fixture
def config(consortium_dir: Path, tmp_path: Path, witnesses: TestWitnesses) -> GatewayConfig:
    witnesses.forget()  # this test's ledger is a new log to them
    return GatewayConfig(
        directory=consortium_dir,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
    )


@pytest.fixture
def gateway(config: GatewayConfig) -> Iterator[Gateway]:
    gw = open_gateway(config)
    yield gw
    gw.close()


@pytest.fixture
def app(config: GatewayConfig, gateway: Gateway) -> Flask:
    return create_app(config, gateway)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def tokens(gateway: Gateway) -> Tokens:
    """A token for every (organisation, role) the consortium allows."""
    out: Tokens = {}
    for org in gateway.stores:
        for role in sorted(ROLES_FOR_ORG[gateway.org_role(org)]):
            out[org, role.value] = issue_token(gateway.store(org), gateway.org_role(org), role)[1]
    return out


@pytest.fixture
def api(client: FlaskClient, tokens: Tokens) -> Api:
    return Api(client, tokens)
