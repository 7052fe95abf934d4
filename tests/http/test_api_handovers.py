"""The referral hand-over over the API of a real gateway serving both agencies: the
receiver registers her under the referral's pseudonymous ID, the referring agency's audit
log records every release and refused fetch, and an expired package neither lingers nor
blocks a new one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from api_helpers import Api
from sqlalchemy import func, select, update

from api import create_app
from ledger_gw.handover import request as signed
from ledger_gw.offchain.models import AuditRecord, Person, SealedHandover
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from tests.support import events as ev

FATIMA = {"given_name": "Fatima", "family_name": "Hassan", "date_of_birth": "1991-02-03"}
RELEASE = "/v1/handovers/<uuid:referral_id>"


def _register(api: Api, org: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.as_(org).post("/v1/registrations", json=body)
    assert r.status_code == 201, r.get_json()
    out: dict[str, Any] = r.get_json()
    return out


def _refer(api: Api, pid: str, to_org: str = "AGENCY-B") -> str:
    """A's consent naming the receiver for referral data, and a referral citing it."""
    a = api.as_("AGENCY-A")
    consent = ev.consent_granted(
        pid, grantees=[to_org], purposes=["referral"], categories=["referrals"]
    )
    referral = ev.referral_created(pid, to_org=to_org, consent_id=consent["consent_id"])
    for event in (consent, referral):
        assert a.post("/v1/events", json=event).status_code == 201
    return str(referral["referral_id"])


def _step(api: Api, org: str, kind: str, rid: str) -> None:
    r = api.as_(org).post("/v1/events", json=ev.referral_step(kind, rid))
    assert r.status_code == 201, r.get_json()


def _seal(api: Api, rid: str) -> None:
    r = api.as_("AGENCY-A").post("/v1/handovers", json={"referral_id": rid, "note": "insulin"})
    assert r.status_code == 201, r.get_json()


def _take(api: Api, rid: str) -> dict[str, Any]:
    r = api.as_("AGENCY-B").post("/v1/registrations/from-referral", json={"referral_id": rid})
    assert r.status_code == 200, r.get_json()
    out: dict[str, Any] = r.get_json()
    return out


def _persons(gateway: Gateway, org: str) -> int:
    with gateway.store(org).reading() as s:
        return int(s.scalar(select(func.count()).select_from(Person)) or 0)


def _log(gateway: Gateway, org: str, route: str) -> list[AuditRecord]:
    with gateway.store(org).reading() as s:
        query = select(AuditRecord).where(AuditRecord.route == route)
        return list(s.scalars(query.order_by(AuditRecord.id)))


def _refused(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.get_json()
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.get_json()["code"] == code


# -- The receiver registers her under the referral's pseudonymous ID ----------------------


def _held_at_a(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    """A gave her a person-held ID: her attributes derive another."""
    registered = _register(api, "AGENCY-A", {"attributes": FATIMA, "id_scheme": "held"})
    return registered, FATIMA


def _corrected_at_a(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    """A corrected her name since registering her: the ID stayed, the attributes changed."""
    registered = _register(api, "AGENCY-A", {"attributes": FATIMA})
    fixed = {**FATIMA, "family_name": "Al-Hassan"}
    r = api.as_("AGENCY-A").patch(
        f"/v1/registrations/{registered['person_id']}", json={"attributes": fixed}
    )
    assert r.status_code == 200
    return registered, fixed


def _unchanged(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    return _register(api, "AGENCY-A", {"attributes": FATIMA}), FATIMA


@pytest.mark.parametrize("at_a", [_held_at_a, _corrected_at_a, _unchanged])
@pytest.mark.parametrize("b_corrects", [False, True])
def test_the_receiver_registers_her_under_the_referrals_pseudonymous_id(
    api: Api, at_a: Any, b_corrects: bool
) -> None:
    registered, _ = at_a(api)
    rid = _refer(api, registered["pid"])
    _seal(api, rid)
    taken = _take(api, rid)
    _step(api, "AGENCY-B", "accepted", rid)
    attributes = dict(taken["attributes"])
    if b_corrects:  # what changed since, as she tells B's caseworker
        attributes["date_of_birth"] = "1991-03-02"
    made = _register(api, "AGENCY-B", {"attributes": attributes, "referral_id": rid})
    assert made["pid"] == registered["pid"] == taken["pid"]
    assert made["attributes"] == attributes
    # once: the same confirmation again names her registration at B
    again = api.as_("AGENCY-B").post(
        "/v1/registrations", json={"attributes": attributes, "referral_id": rid}
    )
    _refused(again, 409, "already_registered")
    assert again.get_json()["person_id"] == made["person_id"]


def test_a_referral_alone_registers_nobody(api: Api, gateway: Gateway) -> None:
    """A referral is its sender's word and names any ID it likes (another agency's
    person, derived from her attributes): only a hand-over made under her consent, still
    active and covering the receiver, lets the receiver register someone under it."""
    elsewhere = _register(api, "AGENCY-C", {"attributes": {"given_name": "Zed"}})["pid"]
    a = api.as_("AGENCY-A")
    bare = ev.referral_created(elsewhere, to_org="AGENCY-B")  # no consent, no hand-over
    assert a.post("/v1/events", json=bare).status_code == 201
    _step(api, "AGENCY-B", "accepted", bare["referral_id"])
    before = _persons(gateway, "AGENCY-B")
    body = {"attributes": FATIMA, "referral_id": bare["referral_id"]}
    _refused(api.as_("AGENCY-B").post("/v1/registrations", json=body), 403, "consent_required")

    registered = _register(api, "AGENCY-A", {"attributes": FATIMA, "id_scheme": "held"})
    rid = _refer(api, registered["pid"])
    _step(api, "AGENCY-B", "accepted", rid)
    body = {"attributes": FATIMA, "referral_id": rid}
    _refused(api.as_("AGENCY-B").post("/v1/registrations", json=body), 404, "handover_not_found")
    assert _persons(gateway, "AGENCY-B") == before


def test_a_withdrawn_consent_registers_nobody_from_the_referral(api: Api, gateway: Gateway) -> None:
    registered = _register(api, "AGENCY-A", {"attributes": FATIMA})
    rid = _refer(api, registered["pid"])
    _seal(api, rid)
    _take(api, rid)
    _step(api, "AGENCY-B", "accepted", rid)
    listed = api.as_("AGENCY-A").get(f"/v1/persons/{registered['pid']}/consents").get_json()
    consent_id = listed["consents"][0]["consent_id"]
    revoked = ev.consent_revoked(consent_id)
    assert api.as_("AGENCY-A").post("/v1/events", json=revoked).status_code == 201
    before = _persons(gateway, "AGENCY-B")
    body = {"attributes": FATIMA, "referral_id": rid}
    _refused(api.as_("AGENCY-B").post("/v1/registrations", json=body), 409, "consent_inactive")
    assert _persons(gateway, "AGENCY-B") == before


def _accepted(api: Api) -> tuple[str, str]:
    registered = _register(api, "AGENCY-A", {"attributes": FATIMA, "id_scheme": "held"})
    rid = _refer(api, registered["pid"])
    _step(api, "AGENCY-B", "accepted", rid)
    return rid, registered["pid"]


@pytest.mark.parametrize(
    ("org", "status", "code"),
    [
        ("AGENCY-A", 403, "not_receiver"),  # the sender: its own referral is no licence
        ("AGENCY-C", 404, "referral_not_found"),  # a third agency sees no such referral
    ],
)
def test_only_the_receiver_registers_under_a_referral(
    api: Api, gateway: Gateway, org: str, status: int, code: str
) -> None:
    rid, _ = _accepted(api)
    before = _persons(gateway, org)
    r = api.as_(org).post(
        "/v1/registrations", json={"attributes": {"given_name": "Other"}, "referral_id": rid}
    )
    _refused(r, status, code)
    assert _persons(gateway, org) == before


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        ([], "referral_not_accepted"),
        ([("AGENCY-B", "declined")], "referral_closed"),
        ([("AGENCY-A", "cancelled")], "referral_closed"),
        ([("AGENCY-B", "accepted"), ("AGENCY-A", "cancelled")], "referral_closed"),
        ([("AGENCY-B", "accepted"), ("AGENCY-B", "completed")], "referral_closed"),
    ],
)
def test_only_an_accepted_referral_registers_her(
    api: Api, gateway: Gateway, steps: list[tuple[str, str]], code: str
) -> None:
    registered = _register(api, "AGENCY-A", {"attributes": FATIMA, "id_scheme": "held"})
    rid = _refer(api, registered["pid"])
    for org, kind in steps:
        _step(api, org, kind, rid)
    before = _persons(gateway, "AGENCY-B")
    r = api.as_("AGENCY-B").post(
        "/v1/registrations", json={"attributes": FATIMA, "referral_id": rid}
    )
    _refused(r, 409, code)
    assert r.get_json()["field"] == "referral_id"
    assert _persons(gateway, "AGENCY-B") == before


def test_an_unknown_referral_or_another_id_scheme_is_refused(api: Api, gateway: Gateway) -> None:
    rid, _ = _accepted(api)
    b = api.as_("AGENCY-B")
    before = _persons(gateway, "AGENCY-B")
    unknown = {"attributes": FATIMA, "referral_id": ev.uid()}
    _refused(b.post("/v1/registrations", json=unknown), 404, "referral_not_found")
    for extra in ({"id_scheme": "held"}, {"held_id": ev.pid()}):
        body = {"attributes": FATIMA, "referral_id": rid, **extra}
        _refused(b.post("/v1/registrations", json=body), 422, "conflicting_fields")
    assert _persons(gateway, "AGENCY-B") == before


def test_a_person_the_receiver_registered_already_is_not_registered_twice(
    api: Api, gateway: Gateway
) -> None:
    """B has her already under the ID her attributes derive; A referred her under a
    person-held one: a second record at B would be the duplicate this exists to stop."""
    here = _register(api, "AGENCY-B", {"attributes": FATIMA})
    registered = _register(api, "AGENCY-A", {"attributes": FATIMA, "id_scheme": "held"})
    rid = _refer(api, registered["pid"])
    _seal(api, rid)
    _take(api, rid)
    _step(api, "AGENCY-B", "accepted", rid)
    before = _persons(gateway, "AGENCY-B")
    r = api.as_("AGENCY-B").post(
        "/v1/registrations", json={"attributes": FATIMA, "referral_id": rid}
    )
    _refused(r, 409, "already_registered")
    assert r.get_json()["person_id"] == here["person_id"]
    assert _persons(gateway, "AGENCY-B") == before


# -- The referring agency's audit log ------------------------------------------------------


def _sign(gateway: Gateway, org: str, rid: str) -> dict[str, str]:
    path = f"/v1/handovers/{rid}"
    return signed.sign(gateway.workspace.signer(org), "GET", path, dt.datetime.now(dt.UTC))


def test_sealing_is_logged_with_her_pid(api: Api, gateway: Gateway) -> None:
    pid = _register(api, "AGENCY-A", {"attributes": FATIMA})["pid"]
    _seal(api, _refer(api, pid))
    rows = _log(gateway, "AGENCY-A", "/v1/handovers")
    assert [(r.method, r.pid, r.status) for r in rows] == [("POST", pid, 201)]


def test_each_fetch_is_logged_by_the_referring_agency(api: Api, gateway: Gateway) -> None:
    pid = _register(api, "AGENCY-A", {"attributes": FATIMA})["pid"]
    rid = _refer(api, pid)
    _seal(api, rid)
    path = f"/v1/handovers/{rid}"
    _refused(api.client.get(path), 401, "request_unsigned")
    _refused(
        api.client.get(path, headers=_sign(gateway, "AGENCY-C", rid)), 403, "handover_not_for_you"
    )
    assert api.client.get(path, headers=_sign(gateway, "AGENCY-B", rid)).status_code == 200
    _refused(
        api.client.get(path, headers=_sign(gateway, "AGENCY-B", rid)), 404, "handover_not_found"
    )
    rows = [
        (r.token_id, r.role, r.method, r.pid, r.status, r.code)
        for r in _log(gateway, "AGENCY-A", RELEASE)
    ]
    assert rows == [  # the unsigned request proved nothing and named no one: not logged
        ("AGENCY-C", "peer-gateway", "GET", pid, 403, "handover_not_for_you"),
        ("AGENCY-B", "peer-gateway", "GET", pid, 200, None),
        ("AGENCY-B", "peer-gateway", "GET", pid, 404, "handover_not_found"),
    ]
    for org in ("AGENCY-B", "AGENCY-C"):  # nothing about her in the askers' logs
        assert _log(gateway, org, RELEASE) == []


def test_a_release_within_one_gateway_is_logged_too(api: Api, gateway: Gateway) -> None:
    """A gateway serving both agencies releases to itself: the same row at the sender."""
    pid = _register(api, "AGENCY-A", {"attributes": FATIMA})["pid"]
    rid = _refer(api, pid)
    _seal(api, rid)
    _take(api, rid)
    rows = [(r.token_id, r.pid, r.status) for r in _log(gateway, "AGENCY-A", RELEASE)]
    assert rows == [("AGENCY-B", pid, 200)]
    taken = _log(gateway, "AGENCY-B", "/v1/registrations/from-referral")
    assert [(r.pid, r.status) for r in taken] == [(pid, 200)]


def test_a_refusal_after_the_consent_ends_is_logged(api: Api, gateway: Gateway) -> None:
    registered = _register(api, "AGENCY-A", {"attributes": FATIMA})
    a = api.as_("AGENCY-A")
    consent = ev.consent_granted(
        registered["pid"], grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
    )
    referral = ev.referral_created(registered["pid"], consent_id=consent["consent_id"])
    for event in (consent, referral):
        assert a.post("/v1/events", json=event).status_code == 201
    rid = referral["referral_id"]
    _seal(api, rid)
    assert a.post("/v1/events", json=ev.consent_revoked(consent["consent_id"])).status_code == 201
    path = f"/v1/handovers/{rid}"
    _refused(api.client.get(path, headers=_sign(gateway, "AGENCY-B", rid)), 409, "consent_inactive")
    rows = [(r.token_id, r.pid, r.status, r.code) for r in _log(gateway, "AGENCY-A", RELEASE)]
    assert rows == [("AGENCY-B", registered["pid"], 409, "consent_inactive")]


# -- Expiry ------------------------------------------------------------------------------


def _expire(gateway: Gateway, rid: str) -> None:
    """As if sealed long ago and never fetched."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    with gateway.store("AGENCY-A").session() as s:
        s.execute(
            update(SealedHandover).where(SealedHandover.referral_id == rid).values(expires_at=past)
        )


def _packages(gateway: Gateway, org: str = "AGENCY-A") -> set[str]:
    with gateway.store(org).reading() as s:
        return set(s.scalars(select(SealedHandover.referral_id)))


def test_an_expired_package_is_replaced_by_a_new_seal(api: Api, gateway: Gateway) -> None:
    pid = _register(api, "AGENCY-A", {"attributes": FATIMA})["pid"]
    rid = _refer(api, pid)
    _seal(api, rid)
    _refused(
        api.as_("AGENCY-A").post("/v1/handovers", json={"referral_id": rid}),
        409,
        "handover_exists",
    )
    _expire(gateway, rid)
    _seal(api, rid)  # the expired one awaits no more
    assert _packages(gateway) == {rid}
    taken = _take(api, rid)  # and the new one is the one the ledger's latest hash names
    assert taken["pid"] == pid


def test_expired_packages_are_deleted_at_the_next_seal_or_fetch(api: Api, gateway: Gateway) -> None:
    stale = []
    for name in ("Amal", "Noor", "Sara"):
        pid = _register(api, "AGENCY-A", {"attributes": {**FATIMA, "given_name": name}})["pid"]
        stale.append(_refer(api, pid))
        _seal(api, stale[-1])
    _expire(gateway, stale[0])
    pid = _register(api, "AGENCY-A", {"attributes": {**FATIMA, "given_name": "Huda"}})["pid"]
    fresh = _refer(api, pid)
    _seal(api, fresh)  # a seal for another referral
    assert _packages(gateway) == {*stale[1:], fresh}
    _expire(gateway, stale[1])
    _take(api, fresh)  # a fetch for another referral
    assert _packages(gateway) == {stale[2]}


def test_expired_packages_are_deleted_as_the_gateway_starts(
    api: Api, gateway: Gateway, config: GatewayConfig
) -> None:
    pid = _register(api, "AGENCY-A", {"attributes": FATIMA})["pid"]
    rid = _refer(api, pid)
    _seal(api, rid)
    _expire(gateway, rid)
    assert _packages(gateway) == {rid}
    create_app(config, gateway)
    assert _packages(gateway) == set()
