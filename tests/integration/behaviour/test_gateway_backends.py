"""The HTTP gateway over every backend: the same requests, the same answers. On a log
node each agency has its own gateway, the node its own process (mutual TLS, loopback).

Checkpoints answer on both: a signed note on the embedded ledger, the head block on
Fabric (tests/integration/behaviour/test_verifiable_log.py covers proofs, bundles and reports).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from api.app import create_app
from ledger_gw.bootstrap import issue_log_client_certificate, open_gateway
from ledger_gw.pseudonym import new_held_id
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import NO_LEDGER_YET, Workspace
from tests.integration.behaviour.conftest import gateway_config
from tests.integration.remote.conftest import _stop as stop_process
from tests.integration.remote.conftest import start_node
from tests.support import events as ev
from tests.support.gunicorn import free_port

ORGS = ("AGENCY-A", "AGENCY-B")


@dataclass
class Served:
    backend: str
    clients: dict[str, FlaskClient]  # each organisation's gateway (one for all, or its own)
    tokens: dict[str, str]

    def headers(self, org: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[org]}"}

    def client(self, org: str) -> FlaskClient:
        return self.clients[org]


@pytest.fixture(params=["embedded", "fabric", "remote"])
def served(
    request: pytest.FixtureRequest, embedded_workspace: Workspace, tmp_path: Path
) -> Iterator[Served]:
    if request.param == "remote":
        yield from _on_a_log_node(request, embedded_workspace, tmp_path)
        return
    config = gateway_config(request, tmp_path, ORGS)
    gateway = open_gateway(config)
    app = create_app(config, gateway=gateway)
    tokens = {org: issue_token(gateway.store(org), "agency", "agency-writer")[1] for org in ORGS}
    try:
        client = app.test_client()
        yield Served(request.param, dict.fromkeys(ORGS, client), tokens)
    finally:
        gateway.close()


def _on_a_log_node(
    request: pytest.FixtureRequest, ws: Workspace, tmp_path: Path
) -> Iterator[Served]:
    """A log node (its own process, a fresh ledger, the session's witnesses) and each
    agency's gateway in its own directory, appending over mutual TLS on loopback."""
    request.getfixturevalue("embedded_witnesses").forget()
    node = tmp_path / "node"
    (node / "node").mkdir(parents=True)
    shutil.copy(ws.root / "consortium.json", node / "consortium.json")
    shutil.copy(ws.root / "node" / "log.key", node / "node" / "log.key")
    (node / NO_LEDGER_YET).touch()  # a log of its own, under the session's key
    port = free_port()
    node_proc = start_node(node, port)
    gateways = []
    clients: dict[str, FlaskClient] = {}
    tokens: dict[str, str] = {}
    try:
        for org in ORGS:
            root = tmp_path / org
            (root / "node").mkdir(parents=True)
            for name in ("consortium.json", "pseudonym.key"):
                shutil.copy(ws.root / name, root / name)
            shutil.copytree(ws.root / "orgs" / org, root / "orgs" / org)
            shutil.copy(node / "node" / "tls.pem", root / "node" / "tls.pem")
            issue_log_client_certificate(root, org)
            config = GatewayConfig(
                directory=root,
                backend="remote",
                log_url=f"https://127.0.0.1:{port}",
                orgs=(org,),
                sync_interval_s=0.5,
            )
            gateway = open_gateway(config)
            gateways.append(gateway)
            clients[org] = create_app(config, gateway=gateway).test_client()
            tokens[org] = issue_token(gateway.store(org), "agency", "agency-writer")[1]
        yield Served("remote", clients, tokens)
    finally:
        for gateway in gateways:
            gateway.close()
        stop_process(node_proc)


def test_register_submit_and_read_over_http(served: Served) -> None:
    c = served.client("AGENCY-A")
    person = c.post(
        "/v1/registrations",
        json={"attributes": {"given_name": "Fatima", "family_name": f"T{uuid.uuid4().hex}"}},
        headers=served.headers("AGENCY-A"),
    )
    assert person.status_code == 201, person.json
    pid = person.json["pid"]
    consent = ev.consent_granted(
        pid,
        grantees=["AGENCY-B"],
        purposes=["service_continuity"],
        categories=["consent", "entitlements"],
        expires=(date.today() + timedelta(days=365)).isoformat(),  # valid whenever run
        form_hash="ab" * 32,
    )
    first = c.post("/v1/events", json=consent, headers=served.headers("AGENCY-A"))
    assert first.status_code == 201, first.json
    again = c.post("/v1/events", json=consent, headers=served.headers("AGENCY-A"))
    assert again.status_code == 200, again.json  # idempotent: the original result
    assert again.json == first.json
    history = served.client("AGENCY-B").get(
        f"/v1/persons/{pid}/history?purpose=service_continuity", headers=served.headers("AGENCY-B")
    )
    assert history.status_code == 200, history.json
    assert [e["event"]["event_id"] for e in history.json["events"]] == [consent["event_id"]]


def test_checkpoints_on_either_backend(served: Served) -> None:
    c = served.client("AGENCY-A")
    event = ev.entitlement_granted(
        new_held_id(), amount="100", start="2026-11-01", end="2027-01-31"
    )
    assert c.post("/v1/events", json=event, headers=served.headers("AGENCY-A")).status_code == 201
    latest = c.get("/v1/checkpoints/latest", headers=served.headers("AGENCY-A"))
    if served.backend in ("embedded", "remote"):  # the log node's signed note
        assert latest.status_code == 200
        assert latest.json["size"] >= 1
    else:
        assert latest.status_code == 200, latest.json
        assert latest.json["size"] >= 2  # the genesis block and the grant's
        assert len(latest.json["head_hash"]) == 64
