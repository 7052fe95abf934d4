"""A third agency that learned a referral's ID asks the referring gateway for its
package: it is refused alike whether a package awaits, was fetched already or was never
sealed, so the refusal tells it nothing of the hand-over."""

from __future__ import annotations

import datetime as dt
from typing import Any

from api_helpers import Api

from ledger_gw.handover import request as signed
from ledger_gw.services.gateway import Gateway
from tests.support import events as ev

HER = {"family_name": "Hassan", "date_of_birth": "1991-02-03"}


def _referral(api: Api, given_name: str) -> str:
    """A referral from A to B under a consent naming B for referral data; nothing sealed."""
    a = api.as_("AGENCY-A")
    attributes = {**HER, "given_name": given_name}
    registered = a.post("/v1/registrations", json={"attributes": attributes})
    assert registered.status_code == 201, registered.get_json()
    pid = registered.get_json()["pid"]
    consent = ev.consent_granted(
        pid, grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
    )
    referral = ev.referral_created(pid, to_org="AGENCY-B", consent_id=consent["consent_id"])
    for event in (consent, referral):
        assert a.post("/v1/events", json=event).status_code == 201
    return str(referral["referral_id"])


def _seal(api: Api, rid: str) -> None:
    r = api.as_("AGENCY-A").post("/v1/handovers", json={"referral_id": rid, "note": "insulin"})
    assert r.status_code == 201, r.get_json()


def _fetch(api: Api, gateway: Gateway, org: str, rid: str) -> Any:
    path = f"/v1/handovers/{rid}"
    headers = signed.sign(gateway.workspace.signer(org), "GET", path, dt.datetime.now(dt.UTC))
    return api.client.get(path, headers=headers)


def _answer(r: Any) -> tuple[int, str]:
    return r.status_code, r.get_json()["code"]


def test_a_third_agency_learns_nothing_of_whether_a_package_awaits(
    api: Api, gateway: Gateway
) -> None:
    refused = (403, "handover_not_for_you")
    never_sealed = _referral(api, "Amal")
    assert _answer(_fetch(api, gateway, "AGENCY-C", never_sealed)) == refused
    waiting = _referral(api, "Fatima")
    _seal(api, waiting)
    assert _answer(_fetch(api, gateway, "AGENCY-C", waiting)) == refused
    assert _fetch(api, gateway, "AGENCY-B", waiting).status_code == 200
    assert _answer(_fetch(api, gateway, "AGENCY-C", waiting)) == refused  # fetched already
    # the receiver itself is still told that nothing awaits
    assert _answer(_fetch(api, gateway, "AGENCY-B", never_sealed)) == (404, "handover_not_found")


def test_a_third_agency_learns_nothing_of_whether_the_referral_is_still_open(
    api: Api, gateway: Gateway
) -> None:
    rid = _referral(api, "Fatima")
    _seal(api, rid)
    r = api.as_("AGENCY-B").post("/v1/events", json=ev.referral_step("declined", rid))
    assert r.status_code == 201, r.get_json()
    assert _answer(_fetch(api, gateway, "AGENCY-C", rid)) == (403, "handover_not_for_you")
