"""Hand-overs nobody may take: a donor or the auditor named as a referral's receiver is
handed nothing, whatever the referral and the consent say, and a package nobody may
fetch any more (its referral closed, its consent withdrawn, sealed to a non-agency)
does not wait at the referring agency for its lifetime to end."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from api_helpers import Api
from sqlalchemy import select

from api import create_app
from ledger_gw.errors import ForbiddenError
from ledger_gw.handover import request as signed
from ledger_gw.handover.package import Binding, new_handover, seal
from ledger_gw.offchain.models import AuditRecord, Person, SealedHandover, utcnow
from ledger_gw.services import handover
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from tests.support import events as ev
from tests.support.canned_http import serving

FATIMA = {"given_name": "Fatima", "family_name": "Hassan", "date_of_birth": "1991-02-03"}
NON_AGENCIES = [("DONOR-Y", ["*"]), ("AUDITOR-X", ["AUDITOR-X"])]


def _referral(
    api: Api, name: str, to_org: str = "AGENCY-B", grantees: list[str] | None = None
) -> str:
    """A registers her, records her consent naming `grantees` (the receiver by default)
    for referral data, and a referral to `to_org` citing it; the contract takes both."""
    a = api.as_("AGENCY-A")
    r = a.post("/v1/registrations", json={"attributes": {**FATIMA, "given_name": name}})
    assert r.status_code == 201, r.get_json()
    consent = ev.consent_granted(
        r.get_json()["pid"],
        grantees=grantees or [to_org],
        purposes=["referral"],
        categories=["referrals"],
    )
    referral = ev.referral_created(
        r.get_json()["pid"], to_org=to_org, consent_id=consent["consent_id"]
    )
    for event in (consent, referral):
        assert a.post("/v1/events", json=event).status_code == 201
    return str(referral["referral_id"])


def _seal(api: Api, rid: str) -> Any:
    return api.as_("AGENCY-A").post("/v1/handovers", json={"referral_id": rid, "note": "insulin"})


def _sealed(api: Api, name: str) -> str:
    rid = _referral(api, name)
    assert _seal(api, rid).status_code == 201
    return rid


def _sealed_without_the_check(gateway: Gateway, rid: str, pid: str, to_org: str) -> None:
    """Her package for `to_org`, as a gateway that did not ask the receiver's role sealed
    it: to the key the consortium file publishes for `to_org`."""
    with gateway.store("AGENCY-A").session() as s:
        person = s.scalars(select(Person).where(Person.pid == pid)).one()
        package = new_handover(Binding(rid, "AGENCY-A", to_org), pid, person.attributes, "insulin")
        s.add(
            SealedHandover(
                referral_id=rid,
                person_id=person.id,
                to_org=to_org,
                document_hash=package.document_hash,
                sealed=seal(package, gateway.workspace.consortium.handover_key(to_org)),
                expires_at=utcnow() + handover.LIFETIME,
            )
        )


def _pid(api: Api, rid: str) -> str:
    pid: str = api.as_("AGENCY-A").get(f"/v1/referrals/{rid}").get_json()["pid"]
    return pid


def _fetch(api: Api, gateway: Gateway, org: str, rid: str) -> Any:
    """A fetch signed by `org`'s own key, as its gateway sends it."""
    path = handover.path_of(rid)
    headers = signed.sign(gateway.workspace.signer(org), "GET", path, dt.datetime.now(dt.UTC))
    return api.client.get(path, headers=headers)


def _packages(gateway: Gateway) -> set[str]:
    with gateway.store("AGENCY-A").reading() as s:
        return set(s.scalars(select(SealedHandover.referral_id)))


def _refused(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.get_json()
    assert r.get_json()["code"] == code


# -- Only an agency receives her registration ------------------------------------------


@pytest.mark.parametrize(("to_org", "grantees"), NON_AGENCIES)
def test_a_non_agency_receiver_is_sealed_nothing(
    api: Api, gateway: Gateway, to_org: str, grantees: list[str]
) -> None:
    rid = _referral(api, "Fatima", to_org, grantees)
    _refused(_seal(api, rid), 403, "receiver_not_agency")
    assert _packages(gateway) == set()
    events = api.as_("AGENCY-A").get(f"/v1/referrals/{rid}").get_json()["events"]
    assert [e["event"]["type"] for e in events] == ["referral.created"]  # no hash recorded
    _refused(_fetch(api, gateway, to_org, rid), 404, "handover_not_found")


@pytest.mark.parametrize(("to_org", "grantees"), NON_AGENCIES)
def test_a_package_sealed_to_a_non_agency_is_not_released_and_goes(
    api: Api, gateway: Gateway, to_org: str, grantees: list[str]
) -> None:
    rid = _referral(api, "Fatima", to_org, grantees)
    pid = _pid(api, rid)
    _sealed_without_the_check(gateway, rid, pid, to_org)
    r = _fetch(api, gateway, to_org, rid)
    _refused(r, 403, "receiver_not_agency")
    assert _packages(gateway) == set()
    with gateway.store("AGENCY-A").reading() as s:
        rows = s.scalars(select(AuditRecord).where(AuditRecord.route == handover.RELEASE_ROUTE))
        assert [(row.token_id, row.pid, row.status, row.code) for row in rows] == [
            (to_org, pid, 403, "receiver_not_agency")
        ]
    _refused(_fetch(api, gateway, to_org, rid), 404, "handover_not_found")


def test_the_receiver_repeats_the_referring_gateways_refusal_of_a_non_agency() -> None:
    problem = b'{"code": "receiver_not_agency", "detail": "DONOR-Y is not an agency"}'
    reply = (403, "application/problem+json", problem)
    with serving({"/h": reply}) as url, pytest.raises(ForbiddenError) as caught:
        handover._fetch(url + "/h", {})
    assert caught.value.code == "receiver_not_agency"


# -- A package nobody may fetch does not wait for its lifetime ---------------------------


def _unfetchable(api: Api, gateway: Gateway) -> set[str]:
    """Packages A holds that no fetch may take: the referral declined, cancelled, its
    consent withdrawn, sealed to a donor. B's gateway refuses each before asking A."""
    declined = _sealed(api, "Amal")
    b = api.as_("AGENCY-B")
    assert b.post("/v1/events", json=ev.referral_step("declined", declined)).status_code == 201
    cancelled = _sealed(api, "Noor")
    a = api.as_("AGENCY-A")
    assert a.post("/v1/events", json=ev.referral_step("cancelled", cancelled)).status_code == 201
    withdrawn = _sealed(api, "Sara")
    consent_id = b.get(f"/v1/referrals/{withdrawn}").get_json()["consent_id"]
    assert a.post("/v1/events", json=ev.consent_revoked(consent_id)).status_code == 201
    donor = _referral(api, "Huda", "DONOR-Y", ["*"])
    _sealed_without_the_check(gateway, donor, _pid(api, donor), "DONOR-Y")
    for rid in (declined, cancelled, withdrawn):
        r = b.post("/v1/registrations/from-referral", json={"referral_id": rid})
        assert r.status_code == 409, r.get_json()
    return {declined, cancelled, withdrawn, donor}


def test_packages_nobody_may_fetch_go_at_the_next_fetch(api: Api, gateway: Gateway) -> None:
    gone = _unfetchable(api, gateway)
    waiting, fetched = _sealed(api, "Rana"), _sealed(api, "Dina")
    assert _packages(gateway) == {*gone, waiting, fetched}
    r = api.as_("AGENCY-B").post("/v1/registrations/from-referral", json={"referral_id": fetched})
    assert r.status_code == 200, r.get_json()
    assert _packages(gateway) == {waiting}  # one B may still fetch stays


def test_packages_nobody_may_fetch_go_as_the_gateway_starts(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    gone = _unfetchable(api, gateway)
    waiting = _sealed(api, "Rana")
    assert _packages(gateway) == {*gone, waiting}
    create_app(config, gateway)
    assert _packages(gateway) == {waiting}
