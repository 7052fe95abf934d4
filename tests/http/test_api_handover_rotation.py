"""A member's signing key rotated (`key rotate`) while a gateway that holds a hand-over for
it runs: the gateway judges the fetch by the keys in force, as its ledger does, not by
those it started with. The rotated-out key (stolen, perhaps: the reason to rotate) takes
no package, dated now or back before the rotation; the new key takes it, with no restart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from api_helpers import Api
from sqlalchemy import select

from ledger_gw.bootstrap import rotate_key
from ledger_gw.demo.consortium import DEMO
from ledger_gw.handover import request as signed
from ledger_gw.offchain.models import AuditRecord, SealedHandover
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.handover import RELEASE_ROUTE, path_of
from ledger_gw.workspace import Workspace
from tests.support import events as ev


@pytest.fixture
def config(tmp_path: Path) -> GatewayConfig:
    """A consortium of this test's own: the rotation rewrites its file."""
    root = Workspace.create(tmp_path / "ws", DEMO).root
    return GatewayConfig(
        directory=root,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
    )


def _sealed_for_b(api: Api) -> str:
    a = api.as_("AGENCY-A")
    r = a.post("/v1/registrations", json={"attributes": {"given_name": "Fatima"}})
    assert r.status_code == 201, r.get_json()
    pid = r.get_json()["pid"]
    consent = ev.consent_granted(
        pid, grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
    )
    referral = ev.referral_created(pid, consent_id=consent["consent_id"])
    for event in (consent, referral):
        assert a.post("/v1/events", json=event).status_code == 201
    rid = str(referral["referral_id"])
    assert a.post("/v1/handovers", json={"referral_id": rid}).status_code == 201
    return rid


def _awaits(gateway: Gateway, rid: str) -> bool:
    with gateway.store("AGENCY-A").reading() as s:
        return s.get(SealedHandover, rid) is not None


def test_a_fetch_is_judged_by_the_keys_in_force_after_a_rotation(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    rid = _sealed_for_b(api)
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
