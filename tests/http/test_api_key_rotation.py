"""A member's signing key rotated (`key rotate`) while a gateway runs: the gateway judges
the signatures it checks by the keys in force, as its ledger does, not by those it
started with. The rotated-out key (stolen, perhaps: the reason to rotate) takes no
hand-over package, dated now or back before the rotation, and a credential it signs
after the rotation is refused; the new key takes the package, and its credentials and
entries are taken, with no restart. A credential the old key signed before still
verifies, and so does a report (it says when it was signed: `signature.signed_at`, in
the OpenAPI document too)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Api, sealed_referral
from flask.testing import FlaskClient
from sqlalchemy import select

from ledger_gw.bootstrap import rotate_key
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.consortium_file import CHECK_EVERY_S
from ledger_gw.handover import request as signed
from ledger_gw.offchain.models import AuditRecord, SealedHandover
from ledger_gw.reports.signing import verify_report
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.handover import RELEASE_ROUTE, path_of
from ledger_gw.workspace import Workspace
from tests.support import credentials as forge
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


def _awaits(gateway: Gateway, rid: str) -> bool:
    with gateway.store("AGENCY-A").reading() as s:
        return s.get(SealedHandover, rid) is not None


def test_a_fetch_is_judged_by_the_keys_in_force_after_a_rotation(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    rid = sealed_referral(api)
    path = path_of(rid)
    old = Workspace.load(config.directory).signer("AGENCY-B")
    rotated = rotate_key(config.directory, "AGENCY-B")  # what `ledger-gw key rotate` runs
    rotated_at = rotated.consortium.organisation("AGENCY-B").signing_keys[0].valid_until
    assert rotated_at is not None

    for stated in (dt.datetime.now(dt.UTC), rotated_at - dt.timedelta(seconds=30)):
        r = api.client.get(path, headers=signed.sign(old, "GET", path, stated))
        assert r.status_code == 401, r.get_json()
        assert r.get_json()["code"] == "request_signature_invalid"
    assert _awaits(gateway, rid)

    new = rotated.signer("AGENCY-B")
    assert new.cert_pem != old.cert_pem
    stated = rotated_at + dt.timedelta(seconds=1)  # stamps are whole seconds: in its period
    r = api.client.get(path, headers=signed.sign(new, "GET", path, stated))
    assert r.status_code == 200, r.get_json()
    assert not _awaits(gateway, rid)
    with gateway.store("AGENCY-A").reading() as s:
        rows = s.scalars(select(AuditRecord).where(AuditRecord.route == RELEASE_ROUTE))
        assert [(row.token_id, row.status) for row in rows] == [("AGENCY-B", 200)]


def _verify(api: Api, text: str) -> Any:
    return api.as_("AUDITOR-X", "auditor").post("/v1/credentials/verify", json={"credential": text})


def test_credentials_are_judged_by_the_keys_in_force_after_a_rotation(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    grant = ev.entitlement_granted(ev.pid())
    a = api.as_("AGENCY-A")
    assert a.post("/v1/events", json=grant).status_code == 201
    settled(gateway.ledger)
    issued = a.post(
        "/v1/credentials", json={"event_id": grant["event_id"], "purpose": "service_continuity"}
    )
    assert issued.status_code == 201, issued.json
    text = issued.json["credential"]
    old = Workspace.load(config.directory).signer("AGENCY-A")

    rotated = rotate_key(config.directory, "AGENCY-A")  # what `ledger-gw key rotate` runs
    rotated_at = rotated.consortium.organisation("AGENCY-A").signing_keys[0].valid_until
    assert rotated_at is not None
    jwt, disclosures, proof = forge.split(text)
    after = int(rotated_at.timestamp()) + 1  # a card states its issue in whole seconds

    stolen = forge.join(forge.resign(jwt, old, iat=after), disclosures, proof)
    refused = _verify(api, stolen)
    assert refused.status_code == 422, refused.json
    assert refused.json["code"] == "credential_issuer_key_retired"

    new = rotated.signer("AGENCY-A")
    renewed = forge.join(forge.resign(jwt, new, iat=after), disclosures, proof)
    taken = _verify(api, renewed)
    assert taken.status_code == 200, taken.json
    assert (taken.json["issuer"], taken.json["status"]) == ("AGENCY-A", "active")

    before = _verify(api, text)
    assert before.status_code == 200, before.json
    assert before.json["status"] == "active"


def test_bundles_take_the_entries_of_a_key_listed_since_the_gateway_started(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    grant = ev.entitlement_granted(ev.pid())
    assert api.as_("AGENCY-A").post("/v1/events", json=grant).status_code == 201
    rotated = rotate_key(config.directory, "AGENCY-A")
    time.sleep(CHECK_EVERY_S)  # the ledger admits by the file it looked at within this
    # AGENCY-A's other gateway, started since, records the delivery with the new key
    OrgClient(gateway.ledger, rotated.signer("AGENCY-A")).submit(
        ev.delivery(grant["entitlement_id"])
    )
    settled(gateway.ledger)

    auditor = api.as_("AUDITOR-X", "auditor")
    r = auditor.get(f"/v1/audit/bundles?kind=entitlement&subject={grant['entitlement_id']}")
    assert r.status_code == 200, r.json
    assert len(r.json["claim"]["events"]) == 2
    checked = auditor.post("/v1/audit/bundles/verify", data=r.data, content_type="application/json")
    assert checked.status_code == 200, checked.json
    assert checked.json["ok"] is True, checked.json["failures"]


def test_a_stolen_key_cannot_date_back_a_card_of_terms_never_granted(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    """The key stolen, its member rotates it out; the thief signs cards dated before the
    rotation, which any member verifies offline as the issuer's. Online the gateway holds
    each to what issuing it from its grant would have made."""
    today = dt.datetime.now(dt.UTC).date()
    a = api.as_("AGENCY-A")
    grant = ev.entitlement_granted(ev.pid())
    later = ev.entitlement_granted(ev.pid(), start=str(today + dt.timedelta(days=5)))
    for each in (grant, later):
        assert a.post("/v1/events", json=each).status_code == 201
    settled(gateway.ledger)
    texts = []
    for each, disclose in ((grant, ["assistance_type", "valid_until"]), (later, ["valid_from"])):
        asked = {"event_id": each["event_id"], "purpose": "service_continuity"}
        issued = a.post("/v1/credentials", json={**asked, "disclose": disclose})
        assert issued.status_code == 201, issued.json
        texts.append(issued.json["credential"])
    stolen = Workspace.load(config.directory).signer("AGENCY-A")
    rotate_key(config.directory, "AGENCY-A")

    jwt, disclosures, proof = forge.split(texts[0])
    claims = forge.unb64url(jwt.split(".")[1])
    terms = [forge.disclosure("assistance_type", "shelter"),
             forge.disclosure("valid_until", f"{today.year + 5}-12-31")]  # fmt: skip
    beyond = int(dt.datetime(today.year + 6, 1, 1, tzinfo=dt.UTC).timestamp())
    ahead, ahead_disclosures, ahead_proof = forge.split(texts[1])
    head, body, signature = ahead.split(".")
    unbounded = {k: v for k, v in forge.unb64url(body).items() if k != "nbf"}
    no_nbf = ".".join((head, forge.b64url(json.dumps(unbounded).encode()), signature))
    forged = {
        "other terms": forge.join(
            forge.resign(jwt, stolen, exp=beyond, _sd=[*map(forge.digest, terms), *claims["_sd"]]),
            terms,
            proof,
        ),
        "a later expiry": forge.join(forge.resign(jwt, stolen, exp=beyond), disclosures, proof),
        "issued before its grant": forge.join(
            forge.resign(jwt, stolen, iat=claims["iat"] - 3600), disclosures, proof
        ),
        "valid before it begins": forge.join(
            forge.resign(no_nbf, stolen), ahead_disclosures, ahead_proof
        ),
        "valid from another day": forge.join(
            forge.resign(ahead, stolen, nbf=unbounded["iat"]), ahead_disclosures, ahead_proof
        ),
    }
    for what, text in forged.items():
        offline = api.as_("AUDITOR-X", "auditor").post(
            "/v1/credentials/verify", json={"credential": text, "online": False}
        )
        assert offline.status_code == 200, (what, offline.json)  # the issuer's, offline
        refused = _verify(api, text)
        assert (refused.status_code, refused.json["code"]) == (422, "credential_altered"), what
    honest = _verify(api, texts[0])  # issued before the rotation: it stands
    assert (honest.status_code, honest.json["status"]) == (200, "active"), honest.json


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
