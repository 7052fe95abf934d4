"""Erasure stops the sharing: before her record is deleted, the consents the erasing
agency recorded for her are withdrawn on the ledger, so no other agency reads what they
opened, and a credential standing on one no longer verifies as active. A withdrawal the
ledger refuses or cannot take leaves her record in place.

Real SQLite ledger and off-chain stores, real witnesses, real signatures, over HTTP.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

from api_helpers import Api

from ledger_gw.services import registrations
from ledger_gw.services.gateway import Gateway
from tests.support import events as ev
from tests.support.witnesses import settled

PURPOSE = "service_continuity"
LAYLA = {"given_name": "Layla", "family_name": "Nasser", "date_of_birth": "1990-02-11"}


def _registered(api: Api) -> tuple[str, str]:
    """AGENCY-A registers her: (person_id, pid)."""
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": LAYLA})
    assert r.status_code == 201, r.json
    return r.json["person_id"], r.json["pid"]


def _submit(api: Api, org: str, *events: dict[str, Any]) -> None:
    for event in events:
        r = api.as_(org).post("/v1/events", json=event)
        assert r.status_code == 201, r.json


def _history(api: Api, org: str, pid: str) -> dict[str, Any]:
    r = api.as_(org).get(f"/v1/persons/{pid}/history", query_string={"purpose": PURPOSE})
    assert r.status_code == 200, r.json
    return dict(r.json)


def _consents(api: Api, org: str, pid: str) -> dict[str, dict[str, Any]]:
    r = api.as_(org).get(f"/v1/persons/{pid}/consents")
    assert r.status_code == 200, r.json
    return {c["consent_id"]: c for c in r.json["consents"]}


def test_erasure_withdraws_her_consents_so_no_other_agency_reads_what_they_opened(
    api: Api, gateway: Gateway, tmp_path: Path
) -> None:
    a = api.as_("AGENCY-A")
    person_id, pid = _registered(api)
    form = a.post(
        f"/v1/registrations/{person_id}/documents",
        json={"kind": "consent_form", "content": "signed"},
    ).json
    consent = ev.consent_granted(pid, form_hash=form["hash"])  # to every member
    grant = ev.entitlement_granted(pid)
    shared = [grant, ev.delivery(grant["entitlement_id"]), ev.referral_created(pid)]
    withdrawn_at_b = ev.consent_granted(pid, grantees=["AGENCY-B"], purposes=["referral"])
    _submit(api, "AGENCY-A", withdrawn_at_b, consent, *shared)  # the latest stands for her
    # she withdrew that one at AGENCY-B already: the erasure leaves it as B recorded it
    _submit(api, "AGENCY-B", ev.consent_revoked(withdrawn_at_b["consent_id"]))
    own_at_c = ev.consent_granted(pid)  # AGENCY-C's own word, about its own records
    _submit(api, "AGENCY-C", own_at_c)
    settled(gateway.ledger)
    issued = a.post(
        "/v1/credentials", json={"kind": "registration", "pid": pid, "purpose": PURPOSE}
    )
    assert issued.status_code == 201, issued.json
    credential = {"credential": issued.json["credential"]}
    before = api.as_("AGENCY-C").post("/v1/credentials/verify", json=credential)
    assert (before.status_code, before.json["status"]) == (200, "active")
    seen = {r["event"]["event_id"] for r in _history(api, "AGENCY-C", pid)["events"]}
    assert {e["event_id"] for e in shared} <= seen  # the check can see them

    assert a.delete(f"/v1/registrations/{person_id}").status_code == 204

    history = _history(api, "AGENCY-C", pid)
    shown = {(r["org"], r["event"]["type"]) for r in history["events"]}
    # of A's records, C sees only the consent it is a grantee of, and its withdrawal
    assert shown == {
        ("AGENCY-A", "consent.granted"),
        ("AGENCY-A", "consent.revoked"),
        ("AGENCY-C", "consent.granted"),
    }
    # withheld: what the consent opened, and the consent only B was named in, withdrawn
    assert history["withheld"] == len(shared) + 2
    consents = _consents(api, "AGENCY-C", pid)
    mine = consents[consent["consent_id"]]
    assert (mine["state"], mine["active"]) == ("revoked", False)
    assert (mine["revoked_by"], mine["revoke_reason"]) == ("AGENCY-A", "person_request")
    assert consents[own_at_c["consent_id"]]["active"] is True  # another member's stays
    earlier = _consents(api, "AGENCY-A", pid)[withdrawn_at_b["consent_id"]]
    assert earlier["revoked_by"] == "AGENCY-B"  # not withdrawn twice
    after = api.as_("AGENCY-C").post("/v1/credentials/verify", json=credential)
    assert (after.status_code, after.json["code"]) == (422, "credential_revoked")
    assert a.get(f"/v1/registrations/{person_id}").status_code == 404
    assert a.delete(f"/v1/registrations/{person_id}").status_code == 404
    db = sqlite3.connect(tmp_path / "offchain-AGENCY-A.db")
    try:
        rows = db.execute(
            "SELECT status, pid FROM audit_log WHERE method = 'DELETE' ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    assert rows == [(204, pid), (404, None)]  # the erasure's audit row names her


def test_a_ledger_that_cannot_take_the_withdrawal_leaves_her_record(
    api: Api, gateway: Gateway
) -> None:
    person_id, pid = _registered(api)
    consent = ev.consent_granted(pid)
    _submit(api, "AGENCY-A", consent)
    gateway.ledger.close()  # it answers queries still, and takes no transaction
    r = api.as_("AGENCY-A").delete(f"/v1/registrations/{person_id}")
    assert r.status_code == 503
    assert r.json["code"] == "ledger_unavailable"
    assert api.as_("AGENCY-A").get(f"/v1/registrations/{person_id}").status_code == 200
    assert _consents(api, "AGENCY-A", pid)[consent["consent_id"]]["active"] is True


def test_a_withdrawal_the_ledger_refuses_leaves_her_record(api: Api) -> None:
    """The event ID of the withdrawal is one AGENCY-A used already, for another event:
    the contract refuses it, and the erasure is refused with nothing deleted."""
    person_id, pid = _registered(api)
    consent = ev.consent_granted(pid)
    taken = str(uuid.uuid5(registrations._WITHDRAWALS, consent["consent_id"]))
    _submit(api, "AGENCY-A", consent, ev.entitlement_granted(pid, event_id=taken))
    r = api.as_("AGENCY-A").delete(f"/v1/registrations/{person_id}")
    assert (r.status_code, r.json["code"]) == (409, "consent_not_withdrawn"), r.json
    assert "event_id_conflict" in r.json["detail"]
    assert api.as_("AGENCY-A").get(f"/v1/registrations/{person_id}").status_code == 200
    assert _consents(api, "AGENCY-A", pid)[consent["consent_id"]]["active"] is True
