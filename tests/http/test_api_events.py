"""Events: one or a batch, idempotent by client-chosen ID, every error path."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api

from ledger_gw import identity
from ledger_gw.services.gateway import Gateway
from tests.support.events import (
    PID,
    consent_granted,
    entitlement_granted,
    referral_created,
    referral_step,
    uid,
)


def test_submit_then_replay_is_idempotent(api: Api, gateway: Gateway) -> None:
    event = entitlement_granted(PID)
    r = api.as_("AGENCY-A").post("/v1/events", json=event)
    assert r.status_code == 201, r.json
    first = r.json
    size = gateway.ledger.size()
    r = api.as_("AGENCY-A").post("/v1/events", json=event)
    assert r.status_code == 200
    assert r.json == first
    assert gateway.ledger.size() == size


def test_the_gateway_verifies_the_signature_it_has_just_made(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[bytes] = []
    real = identity.verify_low_s

    def counting(public_key: Any, signature: bytes, data: bytes) -> None:
        verified.append(signature)
        real(public_key, signature, data)

    monkeypatch.setattr(identity, "verify_low_s", counting)
    r = api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID))
    assert r.status_code == 201, r.json
    assert len(verified) == 1  # its own signature, checked like any other


def test_reused_event_id_with_other_content_conflicts(api: Api, gateway: Gateway) -> None:
    event = entitlement_granted(PID)
    assert api.as_("AGENCY-A").post("/v1/events", json=event).status_code == 201
    size = gateway.ledger.size()
    r = api.as_("AGENCY-A").post("/v1/events", json={**event, "amount": "9.00"})
    assert r.status_code == 409
    assert (r.json["code"], r.json["field"]) == ("event_id_conflict", "event_id")
    assert gateway.ledger.size() == size


def test_another_organisations_event_id_is_no_conflict(api: Api, gateway: Gateway) -> None:
    event = entitlement_granted(PID)
    first = api.as_("AGENCY-A").post("/v1/events", json=event)
    assert first.status_code == 201
    other = {**entitlement_granted(PID), "event_id": event["event_id"]}
    size = gateway.ledger.size()
    r = api.as_("AGENCY-C").post("/v1/events", json=other)
    assert r.status_code == 201, r.json
    assert gateway.ledger.size() == size + 1
    again = api.as_("AGENCY-A").post("/v1/events", json=event)
    assert (again.status_code, again.json) == (200, first.json)


def test_transition_not_found_and_forbidden(api: Api, gateway: Gateway) -> None:
    ref = referral_created(PID, "AGENCY-B")
    assert api.as_("AGENCY-A").post("/v1/events", json=ref).status_code == 201
    size = gateway.ledger.size()
    accept = referral_step("accepted", ref["referral_id"])
    r = api.as_("AGENCY-A").post("/v1/events", json=accept)  # only the receiver may accept
    assert r.status_code == 403
    r = api.as_("AGENCY-C").post("/v1/events", json={**accept, "event_id": uid()})
    assert r.status_code == 403
    done = referral_step("completed", ref["referral_id"], outcome="service_provided")
    r = api.as_("AGENCY-B").post("/v1/events", json=done)  # not accepted yet
    assert r.status_code == 409
    missing = {**accept, "event_id": uid(), "referral_id": uid()}
    r = api.as_("AGENCY-B").post("/v1/events", json=missing)
    assert r.status_code == 404
    assert gateway.ledger.size() == size


def test_validation_names_the_field(api: Api, gateway: Gateway) -> None:
    r = api.as_("AGENCY-A").post("/v1/events", json={**entitlement_granted(PID), "currency": "XYZ"})
    assert r.status_code == 422
    assert r.json["field"] == "currency"
    r = api.as_("AGENCY-A").post("/v1/events", json={"event_id": uid(), "type": "nope"})
    assert (r.status_code, r.json["field"]) == (422, "type")
    assert gateway.ledger.size() == 0


def test_malformed_json_is_400(api: Api) -> None:
    r = api.as_("AGENCY-A").post("/v1/events", data="{not json", content_type="application/json")
    assert r.status_code == 400
    assert r.json["code"] == "malformed_request"
    assert r.headers["Content-Type"] == "application/problem+json"


def test_batch_reports_each_event(api: Api, gateway: Gateway) -> None:
    good = entitlement_granted(PID)
    ref = referral_created(PID, "AGENCY-B")
    accept_own = referral_step("accepted", ref["referral_id"])
    r = api.as_("AGENCY-A").post("/v1/events/batch", json={"events": [good, ref, accept_own]})
    assert r.status_code == 200, r.json
    assert [x["status"] for x in r.json["results"]] == ["accepted", "accepted", "rejected"]
    assert (
        r.json["results"][2]["error"]["code"] == "not_receiver"
        or r.json["results"][2]["error"]["kind"] == "forbidden"
    )
    assert (r.json["accepted"], r.json["replayed"], r.json["rejected"]) == (2, 0, 1)
    r = api.as_("AGENCY-A").post("/v1/events/batch", json={"events": [good, ref]})
    assert [x["status"] for x in r.json["results"]] == ["replayed", "replayed"]
    assert gateway.ledger.size() == 2


def test_batch_with_one_malformed_event_changes_nothing(api: Api, gateway: Gateway) -> None:
    bad = {**entitlement_granted(PID), "pid": "Fatima Al-Hassan"}
    r = api.as_("AGENCY-A").post(
        "/v1/events/batch", json={"events": [entitlement_granted(PID), bad]}
    )
    assert r.status_code == 422
    assert r.json["field"] == "events[1].pid"
    for body in ({"events": []}, {"events": [entitlement_granted(PID)] * 2}, {"events": "x"}, {}):
        assert api.as_("AGENCY-A").post("/v1/events/batch", json=body).status_code == 422
    assert gateway.ledger.size() == 0


def test_consent_event_and_event_lookup(api: Api) -> None:
    event = consent_granted(PID)
    assert api.as_("AGENCY-A").post("/v1/events", json=event).status_code == 201
    r = api.as_("AGENCY-A").get(f"/v1/events/{event['event_id']}")
    assert r.status_code == 200
    assert r.json["event"] == event
    assert api.as_("AGENCY-A").get(f"/v1/events/{uid()}").status_code == 404
    r = api.as_("AGENCY-A").get(f"/v1/events/{event['event_id']}?purpose=gossip")
    assert (r.status_code, r.json["field"]) == (422, "purpose")


def test_a_ledger_that_appends_while_it_answers_has_an_empty_outbox(api: Api) -> None:
    assert api.as_("AGENCY-A").post("/v1/events", json=entitlement_granted(PID)).status_code == 201
    r = api.as_("AGENCY-A").get("/v1/outbox")
    assert r.status_code == 200, r.json
    assert r.json == {
        "pending": [],
        "failed": [],
        "next": None,
        "totals": {"pending": 0, "failed": 0},
    }
    gone = api.as_("AGENCY-A").delete("/v1/outbox/1")
    assert (gone.status_code, gone.json["code"]) == (404, "outbox_item_not_found")


def test_the_outbox_and_the_queued_answer_are_documented(api: Api) -> None:
    spec = api.client.get("/openapi.json").json
    assert "200" in spec["paths"]["/v1/outbox"]["get"]["responses"]
    dismiss = spec["paths"]["/v1/outbox/{seq}"]["delete"]["responses"]
    assert {"200", "404", "409"} <= set(dismiss)
    assert "202" in spec["paths"]["/v1/events"]["post"]["responses"]
