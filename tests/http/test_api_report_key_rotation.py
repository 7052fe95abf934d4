"""A report the gateway signs says when (`signature.signed_at`, in the OpenAPI document
too), so it still verifies once its member has rotated its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import Api
from flask.testing import FlaskClient

from ledger_gw.bootstrap import rotate_key
from ledger_gw.demo.consortium import DEMO
from ledger_gw.reports.signing import verify_report
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import settled


@pytest.fixture
def config(tmp_path: Path) -> GatewayConfig:
    """A consortium of this test's own: the rotation rewrites its file."""
    root = Workspace.create(tmp_path / "ws", DEMO).root
    return GatewayConfig(
        directory=root,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
    )


def test_a_report_the_gateway_signed_verifies_after_its_members_key_rotation(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    a = api.as_("AGENCY-A")
    for _ in range(3):
        assert a.post("/v1/events", json=ev.entitlement_granted(ev.pid())).status_code == 201
    settled(gateway.ledger)
    r = a.get("/v1/reports/accountability")
    assert r.status_code == 200, r.get_json()
    report = r.get_json()

    rotated = rotate_key(config.directory, "AGENCY-A")  # what `ledger-gw key rotate` runs
    assert verify_report(report, rotated.consortium, gateway.log) == "AGENCY-A"
    assert set(report["signature"]) == {"org", "algorithm", "certificate", "signed_at", "value"}


def test_the_openapi_document_declares_when_a_report_was_signed(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    signature = schemas["ReportSignature"]
    assert "signed_at" in signature["properties"]
    assert "signed_at" in signature["required"]
