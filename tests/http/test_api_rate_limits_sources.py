"""Per-address limits count a client by its source, as the worker shares its connections:
an IPv6 host is given a whole /64, and rotating through it is no way past a limit."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway

FORGED = "lgw.AGENCY-A.0123456789abcdef." + "x" * 43


@pytest.fixture
def app(config: GatewayConfig, gateway: Gateway) -> Flask:
    limits = {"AUTH_FAILURE_LIMIT": "3/minute", "PUBLIC_LIMIT": "3/minute"}
    return create_app(replace(config, extra={**config.extra, **limits}), gateway)


def _forged_from(client: FlaskClient, address: str) -> int:
    headers = {"Authorization": f"Bearer {FORGED}"}
    environ = {"REMOTE_ADDR": address}
    return client.get("/v1/checkpoints/latest", headers=headers, environ_base=environ).status_code


def test_refused_tokens_from_one_ipv6_64_hold_it_back_whatever_its_addresses(
    client: FlaskClient,
) -> None:
    assert [_forged_from(client, f"2001:db8:1:2::{n:x}") for n in range(1, 4)] == [401] * 3
    assert _forged_from(client, "2001:db8:1:2:ffff::9") == 429
    assert _forged_from(client, "2001:db8:1:3::1") == 401  # another /64: another client


def test_an_ipv4_client_mapped_into_ipv6_is_counted_as_itself(client: FlaskClient) -> None:
    assert [_forged_from(client, "10.0.0.7") for _ in range(3)] == [401] * 3
    assert _forged_from(client, "::ffff:10.0.0.7") == 429
    assert _forged_from(client, "10.0.0.8") == 401


def test_routes_without_a_token_count_an_ipv6_64_once(client: FlaskClient) -> None:
    codes = [
        client.get("/v1/validity/7", environ_base={"REMOTE_ADDR": f"2001:db8::{n}"}).status_code
        for n in range(1, 5)
    ]
    assert codes[:3] != [429] * 3
    assert codes[3] == 429
