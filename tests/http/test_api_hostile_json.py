"""Hostile JSON bodies: each answers 4xx problem+json with a stable code and changes nothing.

The bodies are sent as raw bytes: what a dict cannot hold (a repeated key, a lone
surrogate) is exactly what is tested here.
"""

from __future__ import annotations

import base64
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


def _cursor(*parts: str) -> str:
    raw = json.dumps(list(parts)).encode()  # ASCII, \ud800 escaped as JSON allows
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_holding_a_lone_surrogate_is_refused(api: Api) -> None:
    """Not handed to the database, which cannot encode it (a 500 before)."""
    cursor = _cursor("registrations", "2024-01-01T00:00:00+00:00", "\ud800")
    r = api.as_("AGENCY-A").get(f"/v1/registrations?cursor={cursor}")
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert (r.json["code"], r.json["field"]) == ("invalid_cursor", "cursor")


def test_a_credential_whose_header_nests_deeply_is_malformed(api: Api) -> None:
    """Its header is read before any signature is checked: held to the same depth."""
    header = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")
    text = f"ledger-gw-credential@v1\n{header}.e30.AA~\nx"
    r = api.as_("AGENCY-A").post("/v1/credentials/verify", json={"credential": text})
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.json["code"] == "credential_malformed"


@pytest.mark.parametrize(
    "query", ["to=9999-12-31", "from=0001-01-01&to=0001-01-10", "from=1899-12-31"]
)
def test_report_days_at_the_calendars_ends_are_refused(api: Api, query: str) -> None:
    r = api.as_("AGENCY-A", "agency-reader").get(f"/v1/reports/accountability?{query}")
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"


def test_a_flood_of_unknown_fields_is_counted_not_listed(api: Api, gateway: Gateway) -> None:
    """A body of many unknown keys: the problem lists the first hundred and counts all,
    so the answer is not many times the body."""
    event = entitlement_granted(PID)
    flood = {**event, **{f"x{n}": 0 for n in range(5_000)}}
    before = gateway.ledger.size()
    body = _event_bytes(flood)
    r = _post(api, "/v1/events", body)
    assert r.status_code == 422, r.get_data(as_text=True)
    assert len(r.json["errors"]) == 100
    assert r.json["detail"].endswith("(and 4999 more)")
    assert len(r.get_data()) < len(body)
    assert gateway.ledger.size() == before


@pytest.mark.parametrize("pid", ["h." + "a" * 40, "h.a\x00b"])
def test_the_audit_log_keeps_no_pid_that_names_nobody(api: Api, tmp_path: Path, pid: str) -> None:
    """What a caller put in the path is no pseudonymous ID: PostgreSQL would refuse the
    audit rows written with it (41 characters in a column of 40, a NUL)."""
    r = api.as_("AGENCY-A").get(f"/v1/persons/{pid}/history?purpose=deduplication")
    assert r.status_code == 422, r.get_data(as_text=True)
    with sqlite3.connect(tmp_path / "offchain-AGENCY-A.db") as db:
        rows = db.execute(
            "SELECT pid, status FROM audit_log WHERE route = '/v1/persons/<pid>/history'"
        ).fetchall()
    assert rows == [(None, 422)]
