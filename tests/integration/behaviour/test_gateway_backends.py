"""The HTTP gateway over either backend: the same requests, the same answers.

Checkpoints answer on both: a signed note on the embedded ledger, the head block on
Fabric (tests/integration/behaviour/test_verifiable_log.py covers proofs, bundles and reports).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from api.app import create_app
from ledger_gw.bootstrap import open_gateway
from ledger_gw.pseudonym import new_held_id
from ledger_gw.services.access import issue_token
from ledger_gw.workspace import Workspace
from tests.integration.behaviour.conftest import gateway_config
from tests.support import events as ev

ORGS = ("AGENCY-A", "AGENCY-B")


@dataclass
class Served:
    backend: str
    client: FlaskClient
    tokens: dict[str, str]

    def headers(self, org: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[org]}"}


@pytest.fixture(params=["embedded", "fabric"])
def served(
    request: pytest.FixtureRequest, embedded_workspace: Workspace, tmp_path: Path
) -> Iterator[Served]:
    config = gateway_config(request, tmp_path, ORGS)
    gateway = open_gateway(config)
    app = create_app(config, gateway=gateway)
    tokens = {org: issue_token(gateway.store(org), "agency", "agency-writer")[1] for org in ORGS}
    try:
        yield Served(request.param, app.test_client(), tokens)
    finally:
        gateway.close()


def test_register_submit_and_read_over_http(served: Served) -> None:
    c = served.client
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
        expires="2027-06-30",
        form_hash="ab" * 32,
    )
    first = c.post("/v1/events", json=consent, headers=served.headers("AGENCY-A"))
    assert first.status_code == 201, first.json
    again = c.post("/v1/events", json=consent, headers=served.headers("AGENCY-A"))
    assert again.status_code == 200, again.json  # idempotent: the original result
    assert again.json == first.json
    history = c.get(
        f"/v1/persons/{pid}/history?purpose=service_continuity", headers=served.headers("AGENCY-B")
    )
    assert history.status_code == 200, history.json
    assert [e["event"]["event_id"] for e in history.json["events"]] == [consent["event_id"]]


def test_checkpoints_on_either_backend(served: Served) -> None:
    c = served.client
    event = ev.entitlement_granted(
        new_held_id(), amount="100", start="2026-11-01", end="2027-01-31"
    )
    assert c.post("/v1/events", json=event, headers=served.headers("AGENCY-A")).status_code == 201
    latest = c.get("/v1/checkpoints/latest", headers=served.headers("AGENCY-A"))
    if served.backend == "embedded":
        assert latest.status_code == 200
        assert latest.json["size"] >= 1
    else:
        assert latest.status_code == 200, latest.json
        assert latest.json["size"] >= 2  # the genesis block and the grant's
        assert len(latest.json["head_hash"]) == 64
