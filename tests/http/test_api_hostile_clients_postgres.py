"""Hostile values that SQLite stores and PostgreSQL refuses: a client that sends them is
refused as such (422), never told that a database is down (503), and the operator's
log is not filled with outages that were not."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable

import pytest
from api_helpers import Api, Tokens, dashboard_csrf, dashboard_login
from flask.testing import FlaskClient

from ledger_gw.services.config import GatewayConfig

ORGS = ("AGENCY-A", "AGENCY-B")
AMINA = {"given_name": "Amina", "family_name": "Yusuf", "date_of_birth": "1990-05-05"}


@pytest.fixture
def config(config: GatewayConfig, pg_database: Callable[..., str]) -> GatewayConfig:
    return dataclasses.replace(config, offchain_url=pg_database(*ORGS), orgs=ORGS)


def _cursor(*parts: str) -> str:
    raw = json.dumps(list(parts)).encode()  # a NUL escaped, as JSON allows
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: A cursor of the registrations' list whose person ID holds a NUL byte.
NUL_CURSOR = _cursor("registrations", "2024-01-01T00:00:00+00:00", "a\x00b")


def test_a_cursor_holding_a_nul_is_refused_not_an_outage(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    assert api.as_("AGENCY-A").post("/v1/registrations", json={"attributes": AMINA}).status_code
    for role in ("agency-reader", "agency-writer"):
        caller = api.as_("AGENCY-A", role)
        for r in (
            caller.get(f"/v1/registrations?cursor={NUL_CURSOR}"),
            caller.post("/v1/registrations/search", json={"q": "Amina", "cursor": NUL_CURSOR}),
        ):
            assert r.status_code == 422, r.get_data(as_text=True)
            assert r.headers["Content-Type"] == "application/problem+json"
            assert (r.json["code"], r.json["field"]) == ("invalid_cursor", "cursor")
    assert "unavailable" not in caplog.text


def test_the_dashboards_search_refuses_it_too(client: FlaskClient, tokens: Tokens) -> None:
    assert dashboard_login(client, tokens["AGENCY-A", "agency-reader"]).status_code == 302
    csrf = dashboard_csrf(client, "/dashboard/persons")
    r = client.post("/dashboard/persons", data={"csrf": csrf, "q": "Amina", "cursor": NUL_CURSOR})
    assert r.status_code == 422, r.get_data(as_text=True)
    assert client.get(f"/dashboard/persons?cursor={NUL_CURSOR}").status_code == 422
