"""Bundles, chain verdicts, donor reports, proofs and checkpoints through the HTTP
gateway, on every backend: each answer verifies, with trust roots the test pins. On a
log node each member has its own gateway; the auditor's reads every member's entries
from the node's entry bundles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from api.app import create_app
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.bootstrap import open_gateway
from ledger_gw.client import OrgClient
from ledger_gw.reports.signing import verify_report
from ledger_gw.services.access import issue_token
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace
from tests.integration.behaviour.conftest import LogNodeSite, cosigned, gateway_config
from tests.support import events as ev
from tests.support.witnesses import settled

ORGS = ("AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X", "DONOR-Y")
ROLES = {"AUDITOR-X": ("auditor", "auditor"), "DONOR-Y": ("donor", "donor")}


@dataclass
class Served:
    backend: str
    gateway: Gateway  # on a log node: the auditor's
    clients: dict[str, FlaskClient]  # each member's gateway (one for all, or its own)
    tokens: dict[str, str]
    root: str
    onward: str

    @property
    def client(self) -> FlaskClient:
        return self.clients["AUDITOR-X"]

    def get(self, org: str, url: str) -> object:
        return self.clients[org].get(url, headers={"Authorization": f"Bearer {self.tokens[org]}"})


def _referral_chain(gateways: dict[str, Gateway]) -> tuple[str, str]:
    """A referral from A to B, onward to C and completed there; the two referral IDs."""
    a, b, c = (OrgClient(gateways[o].ledger, gateways[o].signers[o]) for o in ORGS[:3])
    person = ev.pid()
    r1 = ev.referral_created(person)
    r2 = ev.referral_created(person, to_org="AGENCY-C", parent_referral_id=r1["referral_id"])
    for who, event in (
        (a, r1),
        (b, ev.referral_step("accepted", r1["referral_id"])),
        (b, r2),
        (c, ev.referral_step("accepted", r2["referral_id"])),
        (c, ev.referral_step("completed", r2["referral_id"])),
    ):
        who.submit(event)
    return r1["referral_id"], r2["referral_id"]


def _token(gateway: Gateway, org: str) -> str:
    return issue_token(gateway.store(org), *ROLES.get(org, ("agency", "agency-writer")))[1]


@pytest.fixture(params=["embedded", "fabric", "remote"])
def served(
    request: pytest.FixtureRequest, embedded_workspace: Workspace, tmp_path: Path
) -> Iterator[Served]:
    if request.param == "remote":
        yield from _on_a_log_node(request.getfixturevalue("log_node"))
        return
    config = gateway_config(request, tmp_path, ORGS)
    gateway = open_gateway(config)
    app = create_app(config, gateway=gateway)
    tokens = {org: _token(gateway, org) for org in ORGS}
    root, onward = _referral_chain(dict.fromkeys(ORGS, gateway))
    if request.param == "embedded":  # witnesses cosign; Fabric's orderers sign blocks
        settled(gateway.ledger)
    try:
        client = app.test_client()
        yield Served(request.param, gateway, dict.fromkeys(ORGS, client), tokens, root, onward)
    finally:
        gateway.close()


def _on_a_log_node(site: LogNodeSite) -> Iterator[Served]:
    """Each member's own gateway (its own directory and keys) on the session's node."""
    gateways: dict[str, Gateway] = {}
    try:
        for org in ORGS:
            gateways[org] = open_gateway(site.config(org))
        clients = {
            org: create_app(site.config(org), gateway=g).test_client()
            for org, g in gateways.items()
        }
        tokens = {org: _token(g, org) for org, g in gateways.items()}
        root, onward = _referral_chain(gateways)
        auditor = gateways["AUDITOR-X"]
        cosigned(auditor.log, auditor.workspace.consortium)
        yield Served("remote", auditor, clients, tokens, root, onward)
    finally:
        for gateway in gateways.values():
            gateway.close()


def test_bundle_downloads_and_verifies_against_the_pinned_consortium(served: Served) -> None:
    r = served.get("AUDITOR-X", f"/v1/audit/bundles?subject={served.onward}")
    assert r.status_code == 200, r.json  # type: ignore[attr-defined]
    bundle = json.loads(r.data)  # type: ignore[attr-defined]
    kind = "fabric/blocks-v1" if served.backend == "fabric" else "merkle/rfc9162-v1"
    assert bundle["evidence"]["kind"] == kind
    pins = served.gateway.log.pins()  # on Fabric: this member's genesis block and policy
    pinned = {
        "trusted_consortium": served.gateway.workspace.consortium,
        "genesis_hash": pins.genesis_hash,
        "endorsement_policy": pins.policy,
    }
    report = verify_bundle(bundle, **pinned)  # type: ignore[arg-type]
    assert report.ok, report.failures
    assert [s.type for s in report.steps][:2] == ["referral.created", "referral.accepted"]
    assert len(report.steps) == 5
    tampered = json.loads(r.data)  # type: ignore[attr-defined]
    if served.backend != "fabric":
        tampered["evidence"]["entries"][1]["proof"] = tampered["evidence"]["entries"][0]["proof"]
    else:
        blocks = tampered["evidence"]["blocks"]
        blocks[0], blocks[-1] = blocks[-1], blocks[0]
    assert not verify_bundle(tampered, **pinned).ok  # type: ignore[arg-type]
    uploaded = served.client.post(
        "/v1/audit/bundles/verify",
        data=r.data,  # type: ignore[attr-defined]
        headers={
            "Authorization": f"Bearer {served.tokens['AUDITOR-X']}",
            "Content-Type": "application/json",
        },
    )
    assert uploaded.status_code == 200, uploaded.json
    assert uploaded.json["ok"] is True, uploaded.json


def test_chain_verdict_on_both_backends(served: Served) -> None:
    r = served.get("AUDITOR-X", f"/v1/audit/referrals/{served.root}/chain")
    assert r.status_code == 200, r.json  # type: ignore[attr-defined]
    verdict = r.json  # type: ignore[attr-defined]
    assert verdict["ok"] is True, verdict["failures"]
    assert [(s["type"], s["org"]) for s in verdict["steps"]] == [
        ("referral.created", "AGENCY-A"),
        ("referral.accepted", "AGENCY-B"),
        ("referral.created", "AGENCY-B"),
        ("referral.accepted", "AGENCY-C"),
        ("referral.completed", "AGENCY-C"),
    ]


def test_donor_report_is_signed_anchored_and_recomputes(served: Served) -> None:
    r = served.get("DONOR-Y", "/v1/reports/accountability")
    if served.backend == "remote":  # the node hands every member's entries to auditors only
        assert (r.status_code, r.json["code"]) == (501, "remote_log_records")  # type: ignore[attr-defined]
        return
    assert r.status_code == 200, r.json  # type: ignore[attr-defined]
    report = r.json  # type: ignore[attr-defined]
    assert report["signature"]["org"] == "DONOR-Y"
    assert report["anchor"] == served.gateway.log.anchor(None).summary
    consortium = served.gateway.workspace.consortium
    assert verify_report(report, consortium, served.gateway.log) == "DONOR-Y"


def test_checkpoints_and_proofs_on_both_backends(served: Served) -> None:
    latest = served.get("AGENCY-A", "/v1/checkpoints/latest")
    assert latest.status_code == 200, latest.json  # type: ignore[attr-defined]
    size = latest.json["size"]  # type: ignore[attr-defined]
    assert size >= 1
    consistency = served.get("AGENCY-A", f"/v1/proofs/consistency?size1=1&size2={size}")
    assert consistency.status_code == 200, consistency.json  # type: ignore[attr-defined]
    cosign = served.client.post(
        "/v1/checkpoints/cosign",
        json={},
        headers={"Authorization": f"Bearer {served.tokens['AUDITOR-X']}"},
    )
    if served.backend == "embedded":  # the ledger pushed it to its witnesses already
        assert (cosign.status_code, cosign.json["code"]) == (409, "already_cosigned")
    elif served.backend == "remote":  # the node asks its witnesses; a gateway cannot
        assert (cosign.status_code, cosign.json["code"]) == (501, "remote_cosign")
    else:
        assert (cosign.status_code, cosign.json["code"]) == (409, "witnesses_not_applicable")
