"""Answers from another gateway (or the proxy before it) that are no answer it gives:
`credential verify --gateway`'s status, a hand-over's fetch from the referring gateway
and a monitor's read of a log's tiles end in a clear error, never an exception out of
the caller."""

from __future__ import annotations

import base64
import socketserver
from collections.abc import Iterator
from typing import Any

import pytest

from ledger_gw.audit.tile_client import TileClient
from ledger_gw.errors import AuditError, CredentialError, RejectedError, UnavailableError
from ledger_gw.fabric.validity import HttpAttester
from ledger_gw.services.credentials import remote_status
from ledger_gw.services.handover import _fetch
from ledger_gw.witness.client import request_cosignature
from ledger_gw.witness.errors import WitnessUnavailableError
from tests.support.canned_http import serving, serving_handler

VERIFY = "/v1/credentials/verify"
REPLIES = {
    f"/proxy-error{VERIFY}": (502, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
    f"/no-status{VERIFY}": (200, "application/json", b'{"verified": true}'),
    f"/not-an-object{VERIFY}": (200, "application/json", b"[1, 2]"),
    f"/deep{VERIFY}": (200, "application/json", b"[" * 5_000),
    f"/huge{VERIFY}": (
        200,
        "application/json",
        b'{"status": "valid", "padding": "' + b"x" * (64 << 20) + b'"}',
    ),
    f"/revoked{VERIFY}": (
        422,
        "application/problem+json",
        b'{"code": "credential_revoked", "detail": "the entitlement was revoked"}',
    ),
    "/handover/deep": (403, "application/problem+json", b"[" * 5_000),
    "/handover/list": (404, "application/problem+json", b"[1]"),
    "/tiles/v1/log/checkpoint": (403, "application/problem+json", b"[" * 5_000),
}
TEXT = b"ledger-gw-credential@v1\n"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving(REPLIES) as base:
        yield base


@pytest.mark.parametrize("path", ["/proxy-error", "/no-status", "/not-an-object", "/deep", "/huge"])
def test_an_answer_that_is_no_status_is_unavailable(url: str, path: str) -> None:
    with pytest.raises(UnavailableError):
        remote_status(url + path, "token", TEXT, "service_continuity")


def test_a_refusal_is_the_credentials_own_error(url: str) -> None:
    with pytest.raises(CredentialError) as caught:
        remote_status(url + "/revoked", "token", TEXT, "service_continuity")
    assert caught.value.code == "credential_revoked"


@pytest.mark.parametrize("path", ["/handover/deep", "/handover/list"])
def test_a_peers_refusal_that_does_not_read_is_still_a_refusal(url: str, path: str) -> None:
    with pytest.raises(RejectedError) as caught:
        _fetch(url + path, {})
    assert caught.value.code == "peer_refused"


def test_a_logs_refusal_that_does_not_read_is_still_a_refusal(url: str) -> None:
    with pytest.raises(AuditError) as caught:
        TileClient(url + "/tiles").latest_checkpoint()
    assert caught.value.code == "log_refused"


class _NoHttp(socketserver.BaseRequestHandler):
    """Answers every request with something that is not HTTP."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"SPEAKS NO HTTP\r\n\r\n")


@pytest.fixture(scope="module")
def no_http() -> Iterator[str]:
    with serving_handler(_NoHttp) as base:
        yield base


ROOT = base64.b64encode(bytes(32)).decode()
NOTE = f"o\n1\n{ROOT}\n\n\u2014 o {base64.b64encode(bytes(68)).decode()}\n"  # it parses


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda url: remote_status(url, "t", TEXT, "referral"), id="credential"),
        pytest.param(lambda url: _fetch(url + "/handover", {}), id="handover"),
        pytest.param(lambda url: TileClient(url).latest_checkpoint(), id="tiles"),
        pytest.param(lambda url: request_cosignature(url, NOTE, 0, None), id="witness"),
        pytest.param(lambda url: HttpAttester("AGENCY-A", url).statement(1), id="validity"),
    ],
)
def test_a_server_that_speaks_no_http_is_unreachable(no_http: str, call: Any) -> None:
    with pytest.raises((UnavailableError, WitnessUnavailableError)):  # a witness's own
        call(no_http)
