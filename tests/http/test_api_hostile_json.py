"""Hostile JSON bodies: each answers 4xx problem+json with a stable code and changes nothing.

The bodies are sent as raw bytes: what a dict cannot hold (a repeated key, a lone
surrogate) is exactly what is tested here.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Api

from ledger_gw.services.gateway import Gateway
from tests.support.events import PID, entitlement_granted

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}


def _post(api: Api, url: str, body: bytes, org: str = "AGENCY-A") -> Any:
    return api.as_(org).post(url, data=body, content_type="application/json")


def _refused(r: Any, code: str) -> None:
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["code"] == code


COUNTS = {
    "persons": "SELECT count(*) FROM persons",
    "documents": "SELECT count(*) FROM documents",
}


def _rows(tmp_path: Path, table: str) -> int:
    with sqlite3.connect(tmp_path / "offchain-AGENCY-A.db") as db:
        return int(db.execute(COUNTS[table]).fetchone()[0])


def _event_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_deep_nesting_is_too_deep(api: Api, gateway: Gateway, depth: int) -> None:
    size = gateway.ledger.size()
    body = b'{"event_id": ' + b"[" * depth + b"]" * depth + b"}"
    _refused(_post(api, "/v1/events", body), "too_deep")
    _refused(_post(api, "/v1/registrations", b"[" * depth + b"]" * depth), "too_deep")
    assert gateway.ledger.size() == size


def test_nesting_within_the_limit_reaches_the_schema(api: Api) -> None:
    body = b'{"attributes": ' + b"[" * 31 + b"]" * 31 + b"}"
    r = _post(api, "/v1/registrations", body)
    assert (r.status_code, r.json["code"]) == (422, "invalid_request")


def test_duplicate_event_id_is_refused_and_nothing_is_written(api: Api, gateway: Gateway) -> None:
    event = entitlement_granted(PID)
    first, second = event["event_id"], entitlement_granted(PID)["event_id"]
    text = _event_bytes(event).decode()
    body = text.replace(f'"event_id": "{first}"', f'"event_id": "{first}", "event_id": "{second}"')
    assert body != text
    size = gateway.ledger.size()
    r = _post(api, "/v1/events", body.encode())
    _refused(r, "duplicate_key")
    assert "event_id" in r.json["detail"]
    assert gateway.ledger.size() == size
    assert api.as_("AGENCY-A").get(f"/v1/events/{second}").status_code == 404
    assert _post(api, "/v1/events", text.encode()).status_code == 201  # the same, once


def test_duplicate_keys_anywhere_are_refused(api: Api, tmp_path: Path) -> None:
    body = (
        b'{"attributes": {"given_name": "Fatima", "given_name": "Amina",'
        b' "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}}'
    )
    _refused(_post(api, "/v1/registrations", body), "duplicate_key")
    assert _rows(tmp_path, "persons") == 0


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\udc00y"])
def test_lone_surrogate_in_registration_attributes(api: Api, tmp_path: Path, escape: str) -> None:
    text = json.dumps({"attributes": {**FATIMA, "given_name": "@"}}).replace("@", escape)
    _refused(_post(api, "/v1/registrations", text.encode()), "lone_surrogate")
    key = json.dumps({"attributes": {**FATIMA, "@": "x"}}).replace("@", escape)
    _refused(_post(api, "/v1/registrations", key.encode()), "lone_surrogate")
    assert _rows(tmp_path, "persons") == 0


def test_surrogate_pair_is_one_character(api: Api) -> None:
    text = json.dumps({"attributes": {**FATIMA, "given_name": "Fatima @"}})
    r = _post(api, "/v1/registrations", text.replace("@", "\\ud83c\\udf3b").encode())
    assert r.status_code == 201, r.json


def test_lone_surrogate_in_document_content(api: Api, tmp_path: Path) -> None:
    r = api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": FATIMA})
    assert r.status_code == 201
    url = f"/v1/registrations/{r.json['person_id']}/documents"
    body = b'{"kind": "consent_form", "content": "signed \\ud800 form"}'
    _refused(_post(api, url, body), "lone_surrogate")
    assert _rows(tmp_path, "documents") == 0


@pytest.mark.parametrize(
    "number", [str(2**53), str(2**63), str(-(2**64)), "1" * 5_000, "1e400", "-1e999"]
)
def test_numbers_beyond_the_safe_range(api: Api, gateway: Gateway, number: str) -> None:
    size = gateway.ledger.size()
    event = entitlement_granted(PID)
    body = _event_bytes({**event, "amount": "@"}).replace(b'"@"', number.encode())
    _refused(_post(api, "/v1/events", body), "number_out_of_range")
    assert gateway.ledger.size() == size


@pytest.mark.parametrize("body", [b"NaN", b'{"amount": Infinity}', b"\xff\xfe{}", b"{"])
def test_not_json_is_malformed(api: Api, body: bytes) -> None:
    _refused(_post(api, "/v1/events", body), "malformed_request")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1_000 + b"]" * 1_000,
        b'{"format": "ledger-gw/audit-bundle/v1", "format": "x"}',
        b'{"format": "ledger-gw/audit-bundle/v1", "claim": {"x": "\\ud800"}}',
        b'{"format": "ledger-gw/audit-bundle/v1", "evidence": {"tree_size": 18446744073709551616}}',
    ],
)
def test_bundle_upload_is_read_as_strictly(api: Api, body: bytes) -> None:
    auditor = api.as_("AUDITOR-X", "auditor")
    r = auditor.post("/v1/audit/bundles/verify", data=body, content_type="application/json")
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["code"] == "malformed_bundle"
