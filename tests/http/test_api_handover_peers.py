"""The receiving gateway fetching a hand-over from the referring agency's gateway over HTTP,
when what answers on that link refuses: the receiver repeats only the refusals a
gateway documents, and its own audit log keeps the row whatever the answer held, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
from api_helpers import Api, sealed_referral
from sqlalchemy import select

from ledger_gw.offchain.models import AuditRecord
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from tests.support.canned_http import serving_handler

ORGS = ("AGENCY-A", "AGENCY-B")
FROM_REFERRAL = "/v1/registrations/from-referral"


class _Peer(BaseHTTPRequestHandler):
    """AGENCY-A's gateway as the receiver reaches it: every fetch gets `reply`."""

    reply: ClassVar[tuple[int, dict[str, Any]]] = (404, {})

    def do_GET(self) -> None:
        status, problem = self.reply
        body = json.dumps(problem).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def peer() -> Iterator[str]:
    with serving_handler(_Peer) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request: pytest.FixtureRequest, config: GatewayConfig, peer: str) -> GatewayConfig:
    """One gateway for both agencies, that reaches AGENCY-A's over HTTP all the same."""
    offchain = config.offchain_url
    if request.param == "postgresql":
        offchain = request.getfixturevalue("pg_database")(*ORGS)
    return dataclasses.replace(config, offchain_url=offchain, orgs=ORGS, peers={"AGENCY-A": peer})


def _codes(gateway: Gateway) -> list[tuple[int, str | None]]:
    with gateway.store("AGENCY-B").reading() as s:
        query = select(AuditRecord).where(AuditRecord.route == FROM_REFERRAL)
        return [(r.status, r.code) for r in s.scalars(query.order_by(AuditRecord.id))]


@pytest.mark.parametrize(
    "code",
    [
        "handover_" + "x" * 91,  # longer than the audit log's column
        "handover\x00not_found",
        "already_registered",  # a code of the gateway's, but no answer to a fetch
        ["handover_not_found"],
    ],
)
def test_a_refusal_the_peer_does_not_document_is_a_generic_one(
    api: Api, gateway: Gateway, code: Any
) -> None:
    rid = sealed_referral(api)
    _Peer.reply = (403, {"code": code, "detail": "refused"})
    r = api.as_("AGENCY-B").post(FROM_REFERRAL, json={"referral_id": rid})
    assert r.status_code == 403, r.get_json()
    problem = r.get_json()
    assert (problem["code"], problem["type"]) == (
        "peer_refused",
        "urn:referral-ledger:problem:peer_refused",
    )
    assert _codes(gateway) == [(403, "peer_refused")]


@pytest.mark.parametrize(
    ("status", "code"),
    [(409, "consent_inactive"), (404, "handover_not_found"), (403, "handover_not_for_you")],
)
def test_a_documented_refusal_of_the_peer_is_repeated(
    api: Api, gateway: Gateway, status: int, code: str
) -> None:
    rid = sealed_referral(api)
    _Peer.reply = (status, {"code": code, "detail": "refused"})
    r = api.as_("AGENCY-B").post(FROM_REFERRAL, json={"referral_id": rid})
    assert (r.status_code, r.get_json()["code"]) == (status, code)
    assert _codes(gateway) == [(status, code)]
