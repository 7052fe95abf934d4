"""A package whose referral the receiver completed without fetching it is released to
nobody, the receiver included, and does not wait at the referring agency for its
lifetime to end: her registration is kept for nothing once nobody may take it."""

from __future__ import annotations

import datetime as dt

from api_helpers import Api, sealed_referral
from sqlalchemy import select

from ledger_gw.handover import request as signed
from ledger_gw.offchain.models import SealedHandover
from ledger_gw.services import handover
from ledger_gw.services.gateway import Gateway
from tests.support import events as ev


def _sealed(api: Api, name: str) -> str:
    attributes = {"given_name": name, "family_name": "Hassan", "date_of_birth": "1991-02-03"}
    return sealed_referral(api, attributes)


def _packages(gateway: Gateway) -> set[str]:
    with gateway.store("AGENCY-A").reading() as s:
        return set(s.scalars(select(SealedHandover.referral_id)))


def _complete(api: Api, rid: str) -> None:
    b = api.as_("AGENCY-B")
    for kind in ("accepted", "completed"):
        r = b.post("/v1/events", json=ev.referral_step(kind, rid))
        assert r.status_code == 201, r.get_json()


def test_a_completed_referrals_package_is_released_to_nobody_and_goes(
    api: Api, gateway: Gateway
) -> None:
    completed, waiting = _sealed(api, "Noor"), _sealed(api, "Rana")
    _complete(api, completed)
    path = handover.path_of(completed)
    as_b = signed.sign(gateway.workspace.signer("AGENCY-B"), "GET", path, dt.datetime.now(dt.UTC))
    r = api.client.get(path, headers=as_b)  # the receiver's own signed fetch
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["code"] == "referral_closed"
    assert _packages(gateway) == {waiting}


def test_a_completed_referrals_package_goes_at_the_next_fetch_of_another(
    api: Api, gateway: Gateway
) -> None:
    completed, waiting, fetched = (_sealed(api, n) for n in ("Noor", "Rana", "Dina"))
    _complete(api, completed)
    r = api.as_("AGENCY-B").post("/v1/registrations/from-referral", json={"referral_id": fetched})
    assert r.status_code == 200, r.get_json()
    assert _packages(gateway) == {waiting}
