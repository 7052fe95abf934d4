"""Rate limits: refused tokens, the expensive routes and dashboard log-in answer 429
problem+json with Retry-After once over their limit; other clients are not held back."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace

import pytest
from api_helpers import Tokens
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from ledger_gw.demo.seed import seed_fatima
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from tests.support.witnesses import settled

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}


@pytest.fixture
def app(config: GatewayConfig, gateway: Gateway) -> Flask:
    limits = {
        "AUTH_FAILURE_LIMIT": "3/minute",
        "EXPENSIVE_LIMIT": "4/minute",
        "LOGIN_LIMIT": "2/minute",
        "PUBLIC_LIMIT": "3/minute",
    }
    return create_app(replace(config, extra={**config.extra, **limits}), gateway)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _good_and_forged(tokens: Tokens) -> tuple[str, str]:
    """A writer's token, and the same with its MAC changed: refused."""
    good = tokens["AGENCY-A", "agency-writer"]
    return good, good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")


def _assert_429(r: object) -> None:
    assert r.status_code == 429  # type: ignore[attr-defined]
    assert r.headers["Content-Type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert int(r.headers["Retry-After"]) > 0  # type: ignore[attr-defined]
    assert r.json["code"] == "too_many_requests"  # type: ignore[attr-defined]


def test_refused_tokens_hold_the_address_back_even_with_a_good_token(
    client: FlaskClient, tokens: Tokens
) -> None:
    good, forged = _good_and_forged(tokens)
    for _ in range(3):
        assert client.get("/v1/checkpoints/latest", headers=_bearer(forged)).status_code == 401
    _assert_429(client.get("/v1/checkpoints/latest", headers=_bearer(forged)))
    _assert_429(client.get("/v1/checkpoints/latest", headers=_bearer(good)))
    other = client.get(
        "/v1/checkpoints/latest", headers=_bearer(good), environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 404  # another address is not held back


def test_expensive_routes_are_limited_per_token(client: FlaskClient, tokens: Tokens) -> None:
    writer, reader = tokens["AGENCY-A", "agency-writer"], tokens["AGENCY-A", "agency-reader"]
    body = {"attributes": FATIMA}
    for _ in range(4):
        assert client.post("/v1/pseudonyms", json=body, headers=_bearer(writer)).status_code == 200
    _assert_429(client.post("/v1/pseudonyms", json=body, headers=_bearer(writer)))
    _assert_429(client.post("/v1/registrations", json=body, headers=_bearer(writer)))
    assert client.post("/v1/pseudonyms", json=body, headers=_bearer(reader)).status_code == 200
    # cheap routes are not counted
    assert client.get("/v1/checkpoints/latest", headers=_bearer(writer)).status_code == 404


def test_forged_tokens_naming_anothers_id_do_not_spend_its_allowance(
    client: FlaskClient, tokens: Tokens
) -> None:
    """A token's ID is no secret (audit logs name it): a token is counted only once it
    is verified, so nobody holds a caseworker back by sending forged tokens with her ID."""
    victim = tokens["AGENCY-A", "agency-writer"]
    forged = victim[:-4] + ("AAAA" if not victim.endswith("AAAA") else "BBBB")
    body = {"attributes": FATIMA}
    for n in range(6):
        r = client.post(
            "/v1/pseudonyms",
            json=body,
            headers=_bearer(forged),
            environ_base={"REMOTE_ADDR": f"10.0.1.{n}"},
        )
        assert r.status_code == 401
    for _ in range(4):
        assert client.post("/v1/pseudonyms", json=body, headers=_bearer(victim)).status_code == 200
    _assert_429(client.post("/v1/pseudonyms", json=body, headers=_bearer(victim)))


def test_dashboard_login_is_limited_per_address(client: FlaskClient, tokens: Tokens) -> None:
    page = client.get("/dashboard/login").get_data(as_text=True)
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    form = {"csrf": match.group(1), "token": "lgw.AGENCY-A.0000000000000000." + "A" * 43}
    for _ in range(2):
        assert client.post("/dashboard/login", data=form).status_code == 401
    r = client.post("/dashboard/login", data=form)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_routes_without_a_token_are_limited_per_address(client: FlaskClient) -> None:
    """Validity statements are signed for anyone who asks: an address asking too often
    is held back, whatever it sends; another address is not."""
    for height in range(3):
        assert client.get(f"/v1/validity/{height}").status_code == 409  # embedded: none kept
    _assert_429(client.get("/v1/validity/7"))
    _assert_429(client.get("/v1/validity/7", headers=_bearer("lgw.AGENCY-A.x.y")))
    other = client.get("/v1/validity/7", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 409


def _login(client: FlaskClient, token: str) -> None:
    page = client.get("/dashboard/login").get_data(as_text=True)
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    r = client.post("/dashboard/login", data={"csrf": match.group(1), "token": token})
    assert r.status_code == 302, r.get_data(as_text=True)


def test_the_dashboard_spends_the_same_tokens_allowance(
    client: FlaskClient, tokens: Tokens
) -> None:
    """A token's expensive requests are counted once, through the API or the dashboard's
    pages that do the same: the dashboard is no way around the limit, nor the other way."""
    writer = tokens["AGENCY-A", "agency-writer"]
    body = {"attributes": FATIMA}
    for _ in range(2):
        assert client.post("/v1/pseudonyms", json=body, headers=_bearer(writer)).status_code == 200
    _login(client, writer)
    for _ in range(2):
        assert client.get("/dashboard/persons").status_code == 200
    refused = client.get("/dashboard/persons")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "wait and retry" in refused.get_data(as_text=True)
    _assert_429(client.post("/v1/pseudonyms", json=body, headers=_bearer(writer)))
    assert client.get("/dashboard/referrals").status_code == 200  # not an expensive page
    reader = tokens["AGENCY-A", "agency-reader"]
    assert client.post("/v1/pseudonyms", json=body, headers=_bearer(reader)).status_code == 200


def test_the_dashboards_audit_pages_are_counted(client: FlaskClient, tokens: Tokens) -> None:
    _login(client, tokens["AUDITOR-X", "auditor"])
    for _ in range(4):
        assert client.get("/dashboard/audit/chain").status_code != 429
    refused = client.get("/dashboard/audit/chain")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("org", "role", "query", "cost"),
    [
        ("AGENCY-A", "agency-reader", "", 1 + 9),  # the chart's default: the last 9 weeks
        ("AGENCY-A", "agency-reader", "?from=2026-01-01&to=2026-03-31", 1 + 14),  # ISO weeks
        ("AGENCY-A", "agency-reader", "?from=2020-01-01&to=2026-03-31", 1 + 106),  # MAX_WEEKS
        ("DONOR-Y", "donor", "", 1 + 1),  # a donor's one closed month
    ],
)
def test_the_report_page_costs_what_its_reports_cost_through_the_api(
    config: GatewayConfig,
    gateway: Gateway,
    tokens: Tokens,
    org: str,
    role: str,
    query: str,
    cost: int,
) -> None:
    """The page computes its report and one more for each point of its chart, each one
    API request's worth of work under the process's lock: it spends as many of the
    token's allowance (at most all of it, so that the longest chart still loads)."""
    allowance = 32
    limits = {**config.extra, "EXPENSIVE_LIMIT": f"{allowance}/minute"}
    client = create_app(replace(config, extra=limits), gateway).test_client()
    seed_fatima(gateway)
    settled(gateway.ledger)
    token = tokens[org, role]
    _login(client, token)
    loads = max(allowance // cost, 1)
    for _ in range(loads):
        assert client.get(f"/dashboard/reports{query}").status_code == 200
    refused = client.get(f"/dashboard/reports{query}")
    assert refused.status_code == 429
    assert "wait and retry" in refused.get_data(as_text=True)
    for _ in range(max(allowance - loads * cost, 0)):  # what is left, the API may spend
        r = client.get("/v1/reports/accountability", headers=_bearer(token))
        assert r.status_code == 200, r.get_json()
    _assert_429(client.get("/v1/reports/accountability", headers=_bearer(token)))


def test_a_page_costing_several_requests_is_served_once_its_retry_after_has_passed(
    config: GatewayConfig, gateway: Gateway, tokens: Tokens
) -> None:
    """The oldest request counted leaving the window frees one request's worth, not the
    ten the report page costs: a client waiting the Retry-After it was told is served."""
    limits = {**config.extra, "EXPENSIVE_LIMIT": "12 per 4 seconds"}
    client = create_app(replace(config, extra=limits), gateway).test_client()
    seed_fatima(gateway)
    settled(gateway.ledger)
    token = tokens["AGENCY-A", "agency-reader"]
    _login(client, token)
    assert client.get("/v1/reports/accountability", headers=_bearer(token)).status_code == 200
    time.sleep(2)  # the oldest request counted leaves the window two seconds before the rest
    for _ in range(11):
        assert client.get("/v1/reports/accountability", headers=_bearer(token)).status_code == 200
    refused = client.get("/dashboard/reports")  # its report and its chart's 9 weeks: 10
    assert refused.status_code == 429
    time.sleep(int(refused.headers["Retry-After"]))
    assert client.get("/dashboard/reports").status_code == 200


def test_reading_cards_is_counted(client: FlaskClient, tokens: Tokens) -> None:
    """A card is read back from a photo of up to 40 megapixels: costly for any reader's
    token to send without end."""
    reader = tokens["AGENCY-A", "agency-reader"]
    for _ in range(4):
        r = client.post("/v1/credentials/verify", json={"credential": "x"}, headers=_bearer(reader))
        assert r.status_code != 429
    _assert_429(
        client.post("/v1/credentials/verify", json={"credential": "x"}, headers=_bearer(reader))
    )
    _login(client, reader)
    refused = client.get("/dashboard/credentials/verify")  # a page, not problem+json
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


PROXY = {"REMOTE_ADDR": "10.9.9.9"}  # nginx, as every client reaches the gateway


def _through_proxy(client: FlaskClient, token: str, chain: str) -> int:
    """One request as nginx hands it on: X-Forwarded-For is what the client wrote, if
    anything, then the address nginx was reached from."""
    headers = {**_bearer(token), "X-Forwarded-For": chain}
    return client.get("/v1/checkpoints/latest", headers=headers, environ_base=PROXY).status_code


def test_behind_a_proxy_one_client_refused_often_holds_back_only_itself(
    config: GatewayConfig, gateway: Gateway, tokens: Tokens
) -> None:
    """Every client has the proxy's address: counted by it, one client sending bad tokens
    shut out everyone. Counted by the address the proxy names, the client alone is held
    back, however it varies what it writes into X-Forwarded-For itself."""
    limits = {**config.extra, "AUTH_FAILURE_LIMIT": "3/minute"}
    client = create_app(replace(config, proxies=1, extra=limits), gateway).test_client()
    good, forged = _good_and_forged(tokens)
    for n in range(3):
        assert _through_proxy(client, forged, f"192.0.2.{n}, 203.0.113.5") == 401
    assert _through_proxy(client, forged, "192.0.2.99, 203.0.113.5") == 429
    assert _through_proxy(client, good, "203.0.113.5") == 429  # the same client
    assert _through_proxy(client, good, "198.51.100.7") == 404  # another: let through


def test_without_a_proxy_set_what_a_client_writes_is_not_its_address(
    client: FlaskClient, tokens: Tokens
) -> None:
    _, forged = _good_and_forged(tokens)
    for n in range(3):
        assert _through_proxy(client, forged, f"192.0.2.{n}") == 401
    assert _through_proxy(client, forged, "192.0.2.200") == 429


def test_hand_over_fetches_are_held_back_by_address(client: FlaskClient) -> None:
    """A fetch needs no token, only a member's signature, checked before anything else:
    anyone may send them, so they count against the sender's address."""
    path = f"/v1/handovers/{uuid.uuid4()}"
    for _ in range(3):
        assert client.get(path).status_code == 401
    _assert_429(client.get(path))
    assert client.get(path, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 401
