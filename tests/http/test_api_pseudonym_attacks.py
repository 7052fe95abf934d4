"""A careless caller against the registration routes: one person typed with a character
nobody sees is one person at every agency, and no refusal (problem+json, log line,
audit row) repeats a name or a birth date it was sent."""

from __future__ import annotations

import logging

import pytest
from api_helpers import Api
from sqlalchemy import select

from ledger_gw.offchain.models import AuditRecord
from ledger_gw.services.gateway import Gateway

FATIMA = {"given_name": "José", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}


def test_a_joiner_between_a_letter_and_its_accent_is_one_person_at_every_agency(
    api: Api,
) -> None:
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    assert r.status_code == 201, r.json
    pasted = {**FATIMA, "given_name": "Jose\u200d\u0301"}
    again = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": pasted})
    assert (again.status_code, again.json["code"]) == (409, "already_registered")
    assert again.json["person_id"] == r.json["person_id"]
    at_b = api.as_("AGENCY-B").post("/v1/registrations", json={"attributes": pasted})
    assert at_b.status_code == 201, at_b.json
    assert at_b.json["pid"] == r.json["pid"]


SECRET_NAME = "Zainabqutaiba"


@pytest.mark.parametrize(
    "attributes",
    [
        {SECRET_NAME: "1991-03-14"},
        {"zainabqutaiba": "x"},
        {"given_name": SECRET_NAME, "date_of_birth": f"{SECRET_NAME}-1991"},
        {"given_name": SECRET_NAME, "date_of_birth": "1990-01-01"},
        {"given_name": SECRET_NAME * 20},
        {"given_name": SECRET_NAME, "family_name": 1991},
    ],
    ids=["name-as-key", "name-as-unknown-key", "bad-date", "ambiguous", "too-long", "not-text"],
)
def test_no_refusal_repeats_what_it_was_sent(
    api: Api, gateway: Gateway, caplog: pytest.LogCaptureFixture, attributes: dict[str, object]
) -> None:
    caplog.set_level(logging.DEBUG)
    for route in ("/v1/registrations", "/v1/pseudonyms"):
        r = api.as_("AGENCY-A").post(route, json={"attributes": attributes})
        assert r.status_code == 422, r.json
        assert SECRET_NAME.lower() not in r.get_data(as_text=True).lower()
    assert SECRET_NAME.lower() not in caplog.text.lower()
    with gateway.store("AGENCY-A").reading() as s:
        rows = s.scalars(select(AuditRecord)).all()
    assert rows
    assert all(SECRET_NAME.lower() not in str(vars(row)).lower() for row in rows)
