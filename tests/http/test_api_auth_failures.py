"""Refused tokens: counted, recorded in the named organisation's log by ID, never kept."""

from __future__ import annotations

import datetime as dt

from api_helpers import Tokens
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from ledger_gw.offchain.models import ApiToken, AuditRecord, utcnow
from ledger_gw.services import access
from ledger_gw.services.gateway import Gateway


def _failures(code: str) -> float:
    return REGISTRY.get_sample_value("ledger_gw_auth_failures_total", {"code": code}) or 0.0


def _log(gateway: Gateway, org: str) -> list[AuditRecord]:
    with gateway.store(org).reading() as s:
        return list(s.scalars(select(AuditRecord).order_by(AuditRecord.id)))


def test_a_forged_token_is_recorded_by_its_id_without_its_secret(
    client: FlaskClient, gateway: Gateway, tokens: Tokens
) -> None:
    good = tokens["AGENCY-A", "agency-writer"]
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    before = _failures("invalid_token")
    r = client.get("/v1/checkpoints/latest", headers={"Authorization": f"Bearer {forged}"})
    assert (r.status_code, r.json["code"]) == (401, "invalid_token")
    assert _failures("invalid_token") == before + 1
    (row,) = [row for row in _log(gateway, "AGENCY-A") if row.status == 401]
    assert (row.token_id, row.role, row.code) == (forged.split(".")[2], None, "invalid_token")
    assert (row.method, row.route) == ("GET", "/v1/checkpoints/latest")
    assert forged.rsplit(".", 1)[1] not in repr(vars(row))


def test_an_unparsable_token_is_only_counted(client: FlaskClient, gateway: Gateway) -> None:
    before = _failures("invalid_token"), _failures("missing_token")
    r = client.get("/v1/checkpoints/latest", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert client.get("/v1/checkpoints/latest").status_code == 401
    assert (_failures("invalid_token"), _failures("missing_token")) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert all(row.status != 401 for org in gateway.stores for row in _log(gateway, org))


def test_an_expired_token_is_401_token_expired(
    client: FlaskClient, gateway: Gateway, tokens: Tokens
) -> None:
    token = tokens["AGENCY-B", "agency-reader"]
    with gateway.store("AGENCY-B").session() as s:
        row = s.get(ApiToken, token.split(".")[2])
        assert row is not None
        row.expires_at = utcnow() - dt.timedelta(minutes=1)
    access._valid.clear()
    r = client.get("/v1/checkpoints/latest", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, r.json["code"]) == (401, "token_expired")
    assert [row.code for row in _log(gateway, "AGENCY-B") if row.status == 401] == ["token_expired"]


def test_a_bad_token_is_refused_whatever_its_body(
    client: FlaskClient, gateway: Gateway, tokens: Tokens
) -> None:
    """The token is judged before the body is read: a body that would fail its strict
    reading must not turn the refusal of a forged token into an uncounted 400."""
    good = tokens["AGENCY-A", "agency-writer"]
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    before = _failures("invalid_token"), _failures("missing_token")
    for headers in ({"Authorization": f"Bearer {forged}"}, {}):
        r = client.post(
            "/v1/registrations",
            data=b'{"attributes": {}, "attributes": {}}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 401, r.json
    assert (_failures("invalid_token"), _failures("missing_token")) == (
        before[0] + 1,
        before[1] + 1,
    )
    (row,) = [row for row in _log(gateway, "AGENCY-A") if row.status == 401]
    assert (row.route, row.code) == ("/v1/registrations", "invalid_token")


def test_a_members_malformed_body_is_in_its_audit_log(
    client: FlaskClient, gateway: Gateway, tokens: Tokens
) -> None:
    token = tokens["AGENCY-A", "agency-writer"]
    for body, code in (
        (b'{"attributes": {}, "attributes": {}}', "duplicate_key"),
        (b'{"attributes": {', "malformed_request"),
    ):
        r = client.post(
            "/v1/registrations",
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert (r.status_code, r.json["code"]) == (400, code)
    rows = [row for row in _log(gateway, "AGENCY-A") if row.route == "/v1/registrations"]
    assert [(row.status, row.code) for row in rows] == [
        (400, "duplicate_key"),
        (400, "malformed_request"),
    ]
