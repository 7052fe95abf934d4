"""What one client may hold of the chaincode server, against the server on real sockets.

Whoever reaches the port may connect (TLS client certificates are optional). A peer keeps
one connection with one stream open, and sends on it messages of up to the largest size:
a client asking for more streams, more buffered bytes, more connections or more time
before its first call than that, or leaving what it is sent unread, is cut off, and the
server goes on serving the others.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_gw.fabric import grpc_wire as w
from ledger_gw.fabric.chaincode_server import Server, TlsFiles
from tests.support.tls import self_signed_localhost
from tests.unit.fabric.test_grpc_wire import (
    DATA,
    GOAWAY,
    HEADERS,
    PING,
    PREFACE,
    SETTINGS,
    WINDOW_UPDATE,
    Client,
    Echo,
)

CHAT = "/test.Echo/Chat"
FLOOD = "/test.Flood/Chat"
FLOOD_SIZE = 16 << 20  # more than the sockets between client and server buffer
FIRST_CALL = 0.5  # the deadlines these tests give the server, in seconds
SEND = 0.5


class Flood(Echo):
    """Answers any message with more bytes than the sockets buffer."""

    def received(self, message: bytes) -> None:
        self.call.send(b"f" * FLOOD_SIZE)


def _server(tls: ssl.SSLContext | None = None, max_connections: int = 8) -> Server:
    listener = socket.create_server(("127.0.0.1", 0))
    return Server(
        listener,
        tls,
        {CHAT: Echo, FLOOD: Flood},
        first_call_timeout=FIRST_CALL,
        send_timeout=SEND,
        max_connections=max_connections,
    )


@pytest.fixture
def server() -> Iterator[Server]:
    running = _server()
    yield running
    running.stop(grace=0)


def _connect(server: Server, timeout: float = 5.0) -> Client:
    client = Client(socket.create_connection(("127.0.0.1", server.port), timeout=timeout))
    client.sock.sendall(PREFACE)
    return client


def _chatting(server: Server) -> Client:
    """A client as a peer: one call open, answered."""
    client = _connect(server)
    client.open(1, CHAT)
    client.next_of(HEADERS)
    client.message(1, b"hello")
    assert client.next_of(DATA)[2].endswith(b"hello")
    return client


def _closed(client: Client) -> list[int]:
    """The kinds of the frames the server sent before it closed the connection (a read
    timing out, the connection still open, fails the test)."""
    kinds = []
    while True:
        try:
            kinds.append(client.frame()[0])
        except (AssertionError, ConnectionResetError):
            client.sock.close()
            return kinds


# Streams: as many as a peer needs, not a hundred.


def test_a_client_opening_more_streams_than_a_peer_needs_is_cut_off(server: Server) -> None:
    client = _connect(server)
    for n in range(w.MAX_STREAMS):
        client.open(1 + 2 * n, CHAT)
        assert client.next_of(HEADERS)[1] == 1 + 2 * n
    client.open(1 + 2 * w.MAX_STREAMS, CHAT)
    assert _closed(client)[-1] == GOAWAY
    _chatting(server).sock.close()


def test_streams_one_after_another_are_served_however_many(server: Server) -> None:
    """The limit is on streams open at once: a peer reopening its chat is not refused."""
    client = _connect(server)
    for n in range(3 * w.MAX_STREAMS):
        stream_id = 1 + 2 * n
        client.open(stream_id, CHAT)
        client.next_of(HEADERS)
        client.message(stream_id, b"bye", end=True)
        assert client.next_of(DATA)[1:] == (stream_id, struct.pack(">BI", 0, 3) + b"bye")
        assert client.decoder.decode(client.next_of(HEADERS)[2]) == [("grpc-status", "0")]
    client.sock.close()


# Bytes: the partial messages of all a connection's streams hold one message's worth.


@pytest.fixture
def wire() -> Iterator[Client]:
    """A connection whose largest message is 1 MiB, served on a thread."""
    server_end, client_end = socket.socketpair()
    connection = w.Connection(server_end, {CHAT: Echo}, max_message=1 << 20)
    thread = threading.Thread(target=connection.run, daemon=True)
    thread.start()
    client_end.settimeout(5)
    client_end.sendall(PREFACE)
    yield Client(client_end)
    client_end.close()
    thread.join(5)
    server_end.close()
    assert not thread.is_alive()


def _partial(client: Client, stream_id: int, size: int, sent: int) -> None:
    """`sent` bytes of a message of `size`, in frames of the largest size."""
    data = struct.pack(">BI", 0, size) + b"p" * sent
    for at in range(0, len(data), 16_384):
        client.send(DATA, 0, stream_id, data[at : at + 16_384])


def test_partial_messages_on_several_streams_hold_no_more_than_one_message(
    wire: Client,
) -> None:
    """Each stream may buffer a message of the largest size; a hundred streams would
    have held a hundred of them. The stream whose bytes pass one message's worth ends,
    and the others go on."""
    most = 1 << 20
    for stream_id in (1, 3):
        wire.open(stream_id, CHAT)
        wire.next_of(HEADERS)
    _partial(wire, 1, most, most * 6 // 10)
    _partial(wire, 3, most, most * 6 // 10)
    _, stream_id, block = wire.next_of(HEADERS)
    assert stream_id == 3
    assert dict(wire.decoder.decode(block))["grpc-status"] == str(w.RESOURCE_EXHAUSTED)
    rest = most - most * 6 // 10
    for at in range(0, rest, 16_384):
        wire.send(DATA, 0, 1, b"p" * min(16_384, rest - at))
    _, stream_id, echoed = wire.next_of(DATA)  # the whole message, answered
    assert (stream_id, echoed[:5]) == (1, struct.pack(">BI", 0, most))


# Time: until the first call, whatever the client sends meanwhile.


@pytest.mark.parametrize("meanwhile", ["nothing", "pings", "an unknown method"])
def test_a_connection_opening_no_call_is_closed_by_its_deadline(
    server: Server, meanwhile: str
) -> None:
    client = _connect(server)
    started = time.monotonic()
    if meanwhile == "pings":
        for _ in range(3):
            client.send(PING, 0, 0, b"12345678")
            time.sleep(FIRST_CALL / 4)
    elif meanwhile == "an unknown method":
        client.open(1, "/test.Other/Chat")
    assert _closed(client)[-1] == GOAWAY
    assert time.monotonic() - started < FIRST_CALL + 1.5


def test_a_client_sending_no_preface_is_closed_by_its_deadline(server: Server) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(PREFACE[:10])
    started = time.monotonic()
    assert _closed(Client(sock))[:2] == [SETTINGS, WINDOW_UPDATE]
    assert time.monotonic() - started < FIRST_CALL + 1.5


def test_a_peer_whose_call_is_open_is_not_held_to_the_deadline(server: Server) -> None:
    client = _chatting(server)
    time.sleep(FIRST_CALL * 3)
    client.message(1, b"still here")
    assert client.next_of(DATA)[2].endswith(b"still here")
    client.sock.close()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, bytes]]:
    cert, key = self_signed_localhost()
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "c.key").write_bytes(key)
    running = _server(TlsFiles(tmp_path / "c.pem", tmp_path / "c.key").context())
    yield running, cert
    running.stop(grace=0)


def _client_hello() -> bytes:
    """The first bytes a TLS client sends."""
    context = ssl.create_default_context()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO())
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_a_tls_handshake_sent_a_byte_at_a_time_is_cut_off_by_the_deadline(
    tls_server: tuple[Server, bytes],
) -> None:
    """Each byte well within a read's timeout: the deadline is for the whole."""
    server, _ = tls_server
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    started = time.monotonic()
    try:
        for byte in _client_hello():
            sock.sendall(bytes([byte]))
            time.sleep(FIRST_CALL / 10)
            assert time.monotonic() - started < FIRST_CALL + 1.5, "still not closed"
    except (BrokenPipeError, ConnectionResetError):
        pass
    else:
        assert sock.recv(1) == b""
    sock.close()


def test_a_tls_client_opening_no_call_is_closed_by_its_deadline(
    tls_server: tuple[Server, bytes],
) -> None:
    server, cert = tls_server
    context = ssl.create_default_context(cadata=cert.decode())
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    client = Client(context.wrap_socket(raw, server_hostname="localhost"))
    client.sock.sendall(PREFACE)
    started = time.monotonic()
    assert _closed(client)[-1] == GOAWAY
    assert time.monotonic() - started < FIRST_CALL + 1.5


# Connections: a few at once; past them, refused, and said so once in a while.


def test_connections_beyond_the_most_held_are_refused_until_one_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = _server(max_connections=2)
    try:
        held = [_chatting(running) for _ in range(2)]
        with caplog.at_level(logging.WARNING, logger="ledger_gw.fabric.chaincode"):
            for _ in range(5):
                refused = socket.create_connection(("127.0.0.1", running.port), timeout=5)
                assert refused.recv(100) == b""  # not even the server's settings
                refused.close()
        warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert warnings == [
            "refused 1 chaincode connection(s): 2 are open, the most this server holds"
        ]
        held.pop().sock.close()
        deadline = time.monotonic() + 5
        while True:  # the closed one's thread ends as it reads the end
            client = socket.create_connection(("127.0.0.1", running.port), timeout=5)
            if client.recv(100):
                client.close()
                break
            client.close()
            assert time.monotonic() < deadline, "a closed connection's place is not freed"
            time.sleep(0.05)
        held.pop().sock.close()
    finally:
        running.stop(grace=0)


# Sending: a client that leaves its answers unread loses its connection.


def test_a_client_that_never_reads_loses_its_connection(server: Server) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", server.port))
    client = Client(sock)
    sock.sendall(PREFACE)
    window = struct.pack(">HI", 0x4, w.MAX_WINDOW)  # take all it sends: only TCP holds back
    client.send(SETTINGS, 0, 0, window)
    client.send(WINDOW_UPDATE, 0, 0, struct.pack(">I", w.MAX_WINDOW - 65_535))
    client.open(1, FLOOD)
    client.message(1, b"go")
    time.sleep(SEND * 3)  # reading nothing, well past the server's send timeout
    frames = _closed(client)  # what the sockets held, then the end
    assert frames.count(DATA) < FLOOD_SIZE // 16_384
    _chatting(server).sock.close()
