"""What a log node answers is read within bounds: a node is checked by the gateways, not
trusted by them, and an answer must not exhaust the gateway that checks it."""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseRequestHandler
from typing import ClassVar

import pytest

from ledger_gw.errors import UnavailableError
from ledger_gw.remote import client
from ledger_gw.remote.client import MAX_ANSWER, NodeClient
from ledger_gw.remote.tls import client_context, ensure_server_certificate
from tests.support.canned_http import serving, serving_handler

MANY = b"[" + b"0," * (32 << 20) + b"0]"  # 64 MiB of JSON a node could send


def _node(
    body: bytes, headers: dict[str, str], drip_s: float = 0.0
) -> type[BaseHTTPRequestHandler]:
    class Node(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            Node.asked.append(self.headers.get("Accept-Encoding", ""))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if not drip_s:
                self.wfile.write(body)
                return
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(drip_s)

        def log_message(self, *_: object) -> None:
            pass

        asked: ClassVar[list[str]] = []

    return Node


def _get(handler: type[BaseHTTPRequestHandler]) -> object:
    with serving_handler(handler) as url:
        return NodeClient(url, ssl.create_default_context()).get("/v1/node/size")


def test_an_honest_answer_is_read_and_asked_for_as_is() -> None:
    node = _node(b'{"size": 7}', {})
    assert _get(node) == {"size": 7}
    assert node.asked == ["identity"]  # type: ignore[attr-defined]


def test_a_compressed_answer_is_refused_uninflated() -> None:
    bomb = gzip.compress(MANY)  # 64 KiB that would inflate a thousandfold
    assert len(bomb) < 256 << 10
    with pytest.raises(UnavailableError) as refused:
        _get(_node(bomb, {"Content-Encoding": "gzip"}))
    assert refused.value.code == "bad_answer"


def test_an_answer_past_the_limit_is_refused_unread() -> None:
    assert len(MANY) > MAX_ANSWER
    with pytest.raises(UnavailableError) as refused:
        _get(_node(MANY, {}))
    assert refused.value.code == "bad_answer"


def test_an_answer_dripped_byte_by_byte_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "ANSWER_S", 1.0)
    started = time.monotonic()
    with pytest.raises(UnavailableError) as refused:
        _get(_node(b'{"size": 7' + b" " * 100 + b"}", {}, drip_s=0.1))
    assert refused.value.code == "log_node_unreachable"
    assert time.monotonic() - started < 5


@contextmanager
def _tls_node(
    handler: type[BaseRequestHandler], tmp_path: Path, pinned: bool = True
) -> Iterator[NodeClient]:
    """``handler`` served over TLS on a free local port, and a gateway's client of it that
    pins the node's certificate (or, unless ``pinned``, another one for the same host)."""
    ensure_server_certificate(tmp_path / "node.pem", tmp_path / "node.key", ["127.0.0.1"])
    ensure_server_certificate(tmp_path / "other.pem", tmp_path / "other.key", ["127.0.0.1"])
    ensure_server_certificate(tmp_path / "client.pem", tmp_path / "client.key", [])
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(tmp_path / "node.pem", tmp_path / "node.key")
    server.socket = served.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pin = tmp_path / ("node.pem" if pinned else "other.pem")
    context = client_context(pin, tmp_path / "client.pem", tmp_path / "client.key")
    node = NodeClient(f"https://127.0.0.1:{server.server_address[1]}", context)
    try:
        yield node
    finally:
        node.close()
        server.shutdown()
        server.server_close()


class _Stalling(BaseRequestHandler):
    """A node that keeps a gateway reading what comes before an answer's body, for
    STALL_S: its headers a byte at a time, or interim answers (100 Continue) one after
    another; then an answer."""

    how = "headers"
    STALL_S = 8.0

    def handle(self) -> None:
        self.request.recv(1 << 16)
        until = time.monotonic() + self.STALL_S
        try:
            if self.how == "headers":
                self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while time.monotonic() < until:
                    self.request.sendall(b"a")
                    time.sleep(0.05)
            else:
                while time.monotonic() < until:
                    self.request.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 64)
            self.request.sendall(b'\r\nContent-Length: 11\r\n\r\n{"size": 7}')
        except OSError:  # the gateway gave up
            pass


@pytest.mark.parametrize("how", ["headers", "interim answers"])
def test_what_comes_before_the_body_is_bounded_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str
) -> None:
    """The read timeout is each read's: a node answering a byte at a time, or without end
    before its body, would otherwise hold the gateway's thread (an append it waits for, a
    check, a readiness probe) for as long as it likes, instead of its events going to
    the outbox."""
    monkeypatch.setattr(client, "ANSWER_S", 1.0)
    handler = type("Stalling", (_Stalling,), {"how": how})
    with _tls_node(handler, tmp_path) as node:
        started = time.monotonic()
        with pytest.raises(UnavailableError) as refused:
            node.get("/v1/node/size")
        assert refused.value.code == "log_node_unreachable"
        assert time.monotonic() - started < _Stalling.STALL_S / 2


def test_an_honest_node_is_answered_again_on_the_same_connection(tmp_path: Path) -> None:
    """The bound is each answer's, from its request: a connection kept past it serves
    the next request whole."""

    class Node(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps the connection

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"size": 7}')

        def log_message(self, *_: object) -> None:
            pass

    with _tls_node(Node, tmp_path) as node:
        assert node.get("/v1/node/size") == {"size": 7}
        time.sleep(1.5)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(client, "ANSWER_S", 1.0)
            assert node.get("/v1/node/size") == {"size": 7}


def test_a_node_presenting_another_certificate_is_refused(tmp_path: Path) -> None:
    """Another key's certificate for the node's very host name is not the pinned one."""

    class Node(BaseHTTPRequestHandler):
        asked: ClassVar[list[str]] = []

        def do_GET(self) -> None:
            Node.asked.append(self.path)

    with (
        _tls_node(Node, tmp_path, pinned=False) as node,
        pytest.raises(UnavailableError) as refused,
    ):
        node.get("/v1/node/size")
    assert refused.value.code == "log_node_unreachable"
    assert Node.asked == []


def test_a_redirect_is_not_followed() -> None:
    """A node cannot send the gateway's request, with its client certificate, elsewhere."""
    with serving({"/v1/node/size": (200, "application/json", b'{"size": 1}')}) as elsewhere:

        class Redirecting(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(307)
                self.send_header("Location", elsewhere + "/v1/node/size")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        with pytest.raises(UnavailableError) as refused:
            _get(Redirecting)
    assert refused.value.code == "bad_answer"
