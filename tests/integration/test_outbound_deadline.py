"""A server this library calls cannot hold the caller longer than its timeout.

A socket's timeout bounds each read: a peer gateway, a witness or a log that sends a
byte as each one ends, of its TLS handshake, its status line and headers, or its body,
would keep a gateway worker (or the log's cosigning) waiting for good. Here each is
given up on within the caller's timeout, reported as a server out of reach; a server
slow but done within the timeout is still heard.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger_gw.audit.tile_client import TileClient
from ledger_gw.errors import NotFoundError, UnavailableError
from ledger_gw.log.checkpoint import Checkpoint, sign_checkpoint
from ledger_gw.log.note import generate_signer
from ledger_gw.remote.tls import ensure_server_certificate
from ledger_gw.services import handover
from ledger_gw.witness import WitnessUnavailableError, request_cosignature
from ledger_gw.witness.errors import Reason, RefusedError

BUDGET = 1.5
#: How long a dribbling server goes on, far past every budget: the old waits took this.
DRIBBLE = 40
PACE = 0.2


@dataclass(frozen=True)
class Piece:
    """Bytes a server sends after ``wait`` seconds, ``pace`` seconds apart one byte from
    the next (0: at once)."""

    data: bytes
    pace: float = 0.0
    wait: float = 0.0


def _ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)


#: a status line and headers one byte at a time, a byte every PACE seconds
HEADERS_DRIBBLED = [Piece(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * DRIBBLE, PACE)]
#: the headers at once, then a body a byte at a time
BODY_DRIBBLED = [Piece(_ok(b"b" * DRIBBLE)), Piece(b"b" * DRIBBLE, PACE)]


class _Server:
    """A real TCP (or TLS) server on 127.0.0.1 that answers every request with a script."""

    def __init__(self, script: Sequence[Piece], tls: ssl.SSLContext | None = None) -> None:
        self.script, self.tls = script, tls
        self.handshake_s = 0.0  # a TLS handshake's flights spread over this long
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self.tls is None:
                    self._play(conn.recv, lambda data: conn.sendall(data))
                else:
                    self._play_tls(conn, self.tls)
            except (OSError, ssl.SSLError):
                pass  # the client gave up

    def _play(self, recv: Callable[[int], bytes], send: Callable[[bytes], None]) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = recv(4096)
            if not chunk:
                return
            request += chunk
        head, _, body = request.partition(b"\r\n\r\n")
        length = next(
            (
                int(v)
                for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                if k.strip().lower() == b"content-length"
            ),
            0,
        )
        while len(body) < length:
            body += recv(4096)
        for piece in self.script:
            time.sleep(piece.wait)
            if not piece.pace:
                send(piece.data)
                continue
            for i in range(len(piece.data)):
                send(piece.data[i : i + 1])
                time.sleep(piece.pace)

    def _play_tls(self, conn: socket.socket, context: ssl.SSLContext) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)

        def flush(pace: float) -> None:
            data = outgoing.read()
            if not pace:
                conn.sendall(data)
                return
            for i in range(len(data)):
                conn.sendall(data[i : i + 1])
                time.sleep(pace / max(len(data), 1))

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                flush(self.handshake_s)
                incoming.write(conn.recv(4096) or b"")
        flush(0)

        def recv(n: int) -> bytes:
            while True:
                try:
                    return tls.read(n)
                except ssl.SSLWantReadError:
                    flush(0)
                    data = conn.recv(4096)
                    if not data:
                        return b""
                    incoming.write(data)

        def send(data: bytes) -> None:
            tls.write(data)
            flush(0)

        self._play(recv, send)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., _Server]]:
    servers: list[_Server] = []

    def start(script: Sequence[Piece], tls: ssl.SSLContext | None = None) -> _Server:
        servers.append(_Server(script, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def tls_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server certificate for 127.0.0.1 that the client trusts (its default CAs)."""
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    ensure_server_certificate(cert, key, ["127.0.0.1"])
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _note() -> str:
    signer, _ = generate_signer("example.org/log")
    return sign_checkpoint(Checkpoint("example.org/log", 1, b"\x01" * 32), signer)


def _no_proof(old: int, new: int) -> list[bytes]:
    raise AssertionError("a push from size 0 needs no proof")


def _cosign(url: str, budget: float = BUDGET) -> str:
    return request_cosignature(url, _note(), 0, _no_proof, timeout=budget).cosignature


def _given_up_in_time(started: float) -> None:
    assert time.monotonic() - started < BUDGET + 1


@pytest.mark.parametrize("script", [HEADERS_DRIBBLED, BODY_DRIBBLED], ids=["headers", "body"])
def test_a_dribbling_witness_is_given_up_on_within_the_timeout(
    serve: Callable[..., _Server], script: Sequence[Piece]
) -> None:
    server = serve(script)
    started = time.monotonic()
    with pytest.raises(WitnessUnavailableError, match="not whole in time"):
        _cosign(server.url)
    _given_up_in_time(started)


def test_a_refusal_whose_reason_is_dribbled_is_still_a_refusal_in_time(
    serve: Callable[..., _Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a traceback from the caller's reading of the reason: the refusal, with what of
    its reason came within the timeout."""
    refusal = b"HTTP/1.1 %d No\r\nContent-Length: %d\r\n\r\n"
    witness = serve([Piece(refusal % (422, DRIBBLE)), Piece(b"r" * DRIBBLE, PACE)])
    started = time.monotonic()
    with pytest.raises(RefusedError) as refused:
        _cosign(witness.url)
    _given_up_in_time(started)
    assert refused.value.reason is Reason.BAD_PROOF

    monkeypatch.setattr(handover, "FETCH_TIMEOUT", BUDGET)
    peer = serve([Piece(refusal % (404, DRIBBLE)), Piece(b"{" * DRIBBLE, PACE)])
    started = time.monotonic()
    with pytest.raises(NotFoundError, match="refused"):
        handover._fetch(peer.url + "/v1/handover/r1", {})
    _given_up_in_time(started)


@pytest.mark.parametrize(
    "script",
    [
        HEADERS_DRIBBLED,
        BODY_DRIBBLED,
    ],
    ids=["headers", "body"],
)
def test_a_dribbling_peer_gateway_is_out_of_reach_for_the_handover_fetch(
    serve: Callable[..., _Server], script: Sequence[Piece], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handover, "FETCH_TIMEOUT", BUDGET)
    server = serve(script)
    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        handover._fetch(server.url + "/v1/handover/r1", {})
    assert caught.value.code == "peer_unavailable"
    _given_up_in_time(started)


def test_a_log_dribbling_its_headers_is_out_of_reach_for_the_tile_client(
    serve: Callable[..., _Server],
) -> None:
    server = serve(HEADERS_DRIBBLED)
    started = time.monotonic()
    with pytest.raises(UnavailableError, match="not whole in time"):
        TileClient(server.url, timeout=BUDGET).latest_checkpoint()
    _given_up_in_time(started)


def test_a_dribbled_tls_handshake_counts_against_the_timeout(
    serve: Callable[..., _Server], tls_context: ssl.SSLContext
) -> None:
    """The handshake takes most of the budget, then the headers come a byte at a time."""
    server = serve(HEADERS_DRIBBLED, tls_context)
    server.handshake_s = BUDGET * 0.7
    started = time.monotonic()
    with pytest.raises(WitnessUnavailableError):
        _cosign(server.url)
    _given_up_in_time(started)


def test_a_tls_handshake_dribbled_past_the_timeout_is_given_up_on(
    serve: Callable[..., _Server], tls_context: ssl.SSLContext
) -> None:
    server = serve([Piece(_ok(b"never"))], tls_context)
    server.handshake_s = DRIBBLE * PACE
    started = time.monotonic()
    with pytest.raises(UnavailableError, match="timed out"):
        TileClient(server.url, timeout=BUDGET).latest_checkpoint()
    _given_up_in_time(started)


def _steady(text: bytes) -> list[Piece]:
    """An answer in five parts, spread over about a second and a half."""
    head, third = _ok(text), len(text) // 3
    parts = [head[:10], head[10:], text[:third], text[third : 2 * third], text[2 * third :]]
    return [Piece(part, wait=0.3) for part in parts]


def test_a_slow_but_steady_server_is_heard(
    serve: Callable[..., _Server], tls_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    cosignature = b"\xe2\x80\x94 witness.example.org AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    assert _cosign(serve(_steady(cosignature)).url, budget=6.0) == cosignature.decode()

    tls = serve(_steady(cosignature), tls_context)
    tls.handshake_s = 0.5
    assert _cosign(tls.url, budget=6.0) == cosignature.decode()

    monkeypatch.setattr(handover, "FETCH_TIMEOUT", 6.0)
    sealed = b'{"sealed": "' + b"s" * 3000 + b'"}'
    assert handover._fetch(serve(_steady(sealed)).url + "/v1/handover/r1", {}) == sealed
