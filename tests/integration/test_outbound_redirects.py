"""A server this library calls cannot send what the request carries somewhere else.

A gateway's tiles and a peer's hand-over are each reached with something only that
server may see (a bearer token, a signed fetch). One that answers with a redirect, to
another host or to plain HTTP, gets it refused, and the host it points to hears nothing.
"""

from __future__ import annotations

import threading
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ledger_gw import outbound
from ledger_gw.audit.tile_client import TileClient
from ledger_gw.errors import AuditError, UnavailableError
from ledger_gw.services import handover


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def elsewhere() -> Iterator[tuple[_Server, list[dict[str, str]]]]:
    """The host a redirect points to: it records every request it hears."""
    heard: list[dict[str, str]] = []

    class Record(BaseHTTPRequestHandler):
        def _any(self) -> None:
            heard.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = _any  # noqa: N815

        def log_message(self, *_args: Any) -> None:
            pass

    server = _Server(Record)
    yield server, heard
    server.close()


@pytest.fixture(params=[301, 302, 303, 307, 308])
def redirecting(
    request: pytest.FixtureRequest, elsewhere: tuple[_Server, list[dict[str, str]]]
) -> Iterator[str]:
    target, _ = elsewhere
    status = request.param

    class Redirect(BaseHTTPRequestHandler):
        def _any(self) -> None:
            self.send_response(status)
            self.send_header("Location", target.url + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _any  # noqa: N815

        def log_message(self, *_args: Any) -> None:
            pass

    server = _Server(Redirect)
    yield server.url
    server.close()


def test_a_token_is_not_repeated_to_where_tiles_redirect(
    redirecting: str, elsewhere: tuple[_Server, list[dict[str, str]]]
) -> None:
    with pytest.raises(AuditError) as refused:
        TileClient(redirecting, token="member-secret-token").latest_checkpoint()
    assert refused.value.code == "log_refused"
    assert elsewhere[1] == []


def test_a_signed_handover_fetch_is_not_repeated_elsewhere(
    redirecting: str, elsewhere: tuple[_Server, list[dict[str, str]]]
) -> None:
    with pytest.raises(UnavailableError) as refused:
        handover._fetch(redirecting + "/v1/handovers/r", {"Signature": "signed-for-the-peer"})
    assert refused.value.code == "peer_unavailable"
    assert elsewhere[1] == []


def test_only_http_is_opened(tmp_path: Any) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not for a peer")
    with pytest.raises(urllib.error.URLError, match="unknown url type"):
        outbound.urlopen(secret.as_uri(), timeout=5)
