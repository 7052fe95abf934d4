"""`credential verify --gateway`: what a gateway (or the proxy before it) answers that is
no credential status is a clear error, never a traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ledger_gw.errors import CredentialError, UnavailableError
from ledger_gw.services.credentials import remote_status

ANSWERS = {
    "/proxy-error": (502, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
    "/no-status": (200, "application/json", b'{"verified": true}'),
    "/not-an-object": (200, "application/json", b"[1, 2]"),
    "/revoked": (
        422,
        "application/problem+json",
        b'{"code": "credential_revoked", "detail": "the entitlement was revoked"}',
    ),
}


class _Gateway(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        status, kind, body = ANSWERS[self.path.removesuffix("/v1/credentials/verify")]
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/proxy-error", "/no-status", "/not-an-object"])
def test_an_answer_that_is_no_status_is_unavailable(url: str, path: str) -> None:
    with pytest.raises(UnavailableError):
        remote_status(url + path, "token", b"ledger-gw-credential@v1\n", "service_continuity")


def test_a_refusal_is_the_credentials_own_error(url: str) -> None:
    with pytest.raises(CredentialError) as caught:
        remote_status(url + "/revoked", "token", b"ledger-gw-credential@v1\n", "x")
    assert caught.value.code == "credential_revoked"
