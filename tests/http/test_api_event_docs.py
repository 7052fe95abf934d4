"""The OpenAPI documents every event type from the contract's schemas, with examples a real
gateway accepts; a refused event lists every field error at once and writes nothing."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import jsonschema
import pytest
from api_helpers import Api
from flask.testing import FlaskClient

from chaincode.canonical import canonical_json
from chaincode.errors import ValidationError as ContractValidationError
from chaincode.schemas import SCHEMAS, parse_event
from ledger_gw.demo.consortium import DEMO
from ledger_gw.services import event_examples as ex
from ledger_gw.services.event_schema import schema_name
from ledger_gw.services.field_errors import contract_errors
from ledger_gw.services.gateway import Gateway
from tests.support.events import entitlement_granted, uid

# What a declined referral, a cancelled one and a revoked entitlement need first.
NEEDS = {
    "referral.declined": ("referral.created", ex.DECLINED_REFERRAL_ID),
    "referral.cancelled": ("referral.created", ex.CANCELLED_REFERRAL_ID),
    "entitlement.revoked": ("entitlement.granted", ex.REVOKED_ENTITLEMENT_ID),
}


def _spec(client: FlaskClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/openapi.json").get_json()
    return spec


def _component(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """A component schema with its `$ref`s resolved against the document."""
    return {**spec["components"]["schemas"][name], "components": spec["components"]}


def test_openapi_has_one_schema_per_event_type_under_a_discriminator(client: FlaskClient) -> None:
    spec = _spec(client)
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Event"}
    union = spec["components"]["schemas"]["Event"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(SCHEMAS)
    assert len(union["oneOf"]) == len(SCHEMAS)
    granted = spec["components"]["schemas"]["EntitlementGranted"]
    assert granted["additionalProperties"] is False
    assert granted["properties"]["type"]["enum"] == ["entitlement.granted"]
    assert "USD" in granted["properties"]["currency"]["enum"]
    assert granted["properties"]["amount"]["pattern"].startswith("^")
    assert set(granted["required"]) >= {"event_id", "type", "pid", "amount", "start", "end"}
    assert "location" not in granted["required"]
    batch = spec["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]
    items = batch["application/json"]["schema"]["properties"]["events"]["items"]
    assert items == {"$ref": "#/components/schemas/Event"}


def test_each_example_matches_its_schema_and_the_contract(client: FlaskClient) -> None:
    spec = _spec(client)
    union = _component(spec, "Event")
    for name in spec["components"]["schemas"]["Event"]["discriminator"]["mapping"].values():
        component = _component(spec, name.rsplit("/", 1)[1])
        example = component["example"]
        jsonschema.validate(example, component)
        jsonschema.validate(example, union)  # exactly one branch of the union takes it
        assert parse_event(_bytes(example)) == example


def test_the_documented_schema_refuses_what_the_contract_refuses(client: FlaskClient) -> None:
    """Mutations of each example: the document and the contract agree field by field."""
    spec = _spec(client)
    union = _component(spec, "Event")
    bad_values = ["", "x", "AGENCY-1987-04-12", "0", "1e3", "2026-02-30", ["*", "AGENCY-B"], 7]
    for event_type in SCHEMAS:
        example = _component(spec, _name(event_type))["example"]
        for field in [f for f in example if f != "type"]:
            for value in bad_values:
                mutated = {**copy.deepcopy(example), field: value}
                contract_ok = _contract_accepts(mutated)
                schema_ok = jsonschema.Draft4Validator(
                    union, format_checker=jsonschema.FormatChecker()
                ).is_valid(mutated)
                assert schema_ok == contract_ok, (event_type, field, value)


def test_every_example_is_accepted_by_a_real_gateway(api: Api, client: FlaskClient) -> None:
    worked = ex.examples(
        ("AGENCY-A", "AGENCY-B"),
        DEMO.programmes,
        DEMO.locations,
        DEMO.ceilings,
        _date(),
    )
    documented = {t: _component(_spec(client), _name(t))["example"] for t in SCHEMAS}
    assert {t: e.event for t, e in worked.items()} == documented
    for event_type, example in worked.items():
        if event_type in NEEDS:
            creator, object_id = NEEDS[event_type]
            first = ex.prerequisite(worked[creator], object_id, uid())
            assert api.as_(worked[creator].by).post("/v1/events", json=first).status_code == 201
        response = api.as_(example.by).post("/v1/events", json=example.event)
        assert response.status_code == 201, (event_type, response.get_json())
    assert set(worked) == set(SCHEMAS)


def test_three_wrong_fields_are_reported_at_once_and_nothing_is_written(
    api: Api, gateway: Gateway
) -> None:
    event = entitlement_granted(currency="usd", amount="-5", modality="teleport")
    response = api.as_("AGENCY-A").post("/v1/events", json=event)
    assert response.status_code == 422
    body = response.get_json()
    errors = {e["field"]: e for e in body["errors"]}
    assert set(errors) == {"currency", "amount", "modality"}
    assert errors["modality"]["code"] == "invalid_code"
    assert errors["modality"]["allowed"] == ["cash", "in_kind", "service", "voucher"]
    assert "USD" in errors["currency"]["allowed"]
    assert errors["amount"]["pattern"].startswith("^")
    # the first is the one the contract itself names, as before
    assert (body["field"], body["code"]) == (body["errors"][0]["field"], body["errors"][0]["code"])
    assert body["field"] == "modality"
    assert gateway.ledger.size() == 0


def test_unknown_missing_and_malformed_fields_together(api: Api, gateway: Gateway) -> None:
    event = entitlement_granted(name="Fatima", start="2026-13-01")
    del event["pid"]
    body = api.as_("AGENCY-A").post("/v1/events", json=event).get_json()
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("name", "unknown_field"),
        ("pid", "missing_field"),
        ("start", "invalid_format"),
    ]
    assert "programme" in body["errors"][0]["allowed"]  # the fields the type has
    assert gateway.ledger.size() == 0


def test_unknown_programme_lists_the_consortium_programmes(api: Api, gateway: Gateway) -> None:
    event = entitlement_granted(programme="FATIMA-HASSAN")
    body = api.as_("AGENCY-A").post("/v1/events", json=event).get_json()
    assert body["code"] == "implausible_value"
    assert body["errors"][0]["field"] == "programme"
    assert body["errors"][0]["allowed"] == sorted(DEMO.programmes)
    assert gateway.ledger.size() == 0


def test_a_batch_lists_the_errors_of_every_event(api: Api, gateway: Gateway) -> None:
    good = entitlement_granted()
    events = [good, {**entitlement_granted(), "modality": "x"}, {**good, "event_id": "no"}]
    body = api.as_("AGENCY-A").post("/v1/events/batch", json={"events": events}).get_json()
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("events[1].modality", "invalid_code"),
        ("events[2].event_id", "invalid_format"),
    ]
    assert gateway.ledger.size() == 0


@pytest.mark.parametrize("event_type", sorted(SCHEMAS))
def test_the_first_listed_error_is_the_contracts(event_type: str) -> None:
    """Adversarial: whatever is wrong, the list starts with what the contract raises."""
    worked = ex.examples(("AGENCY-A", "AGENCY-B"), (), (), {}, _date())
    example = worked[event_type].event
    mutations: list[dict[str, Any]] = [
        {**example, "zz": 1, "aa": "x"},
        {k: v for k, v in example.items() if k != "event_id"} | {"pid": 3},
        {**example, "type": "referral.closed", "event_id": "x"},
        {k: v for k, v in example.items() if k != "type"},
        {**{k: 5 for k in example}, "type": event_type},
    ]
    for mutated in mutations:
        with pytest.raises(ContractValidationError) as raised:
            parse_event(_bytes(mutated))
        first = contract_errors(mutated)[0]
        assert (first.field, first.code) == (raised.value.field, raised.value.code)


def _contract_accepts(event: dict[str, Any]) -> bool:
    try:
        parse_event(_bytes(event))
    except ContractValidationError:
        return False
    return True


def _bytes(event: dict[str, Any]) -> bytes:
    return canonical_json(event)


def _name(event_type: str) -> str:
    return schema_name(event_type)


def _date() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
