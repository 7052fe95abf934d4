"""The chaincode server's HTTP/2 layer, frame by frame, against a client written here.

gRPC's own client gives a server more window than any test message needs, so flow
control, split header blocks and PINGs are driven by hand: the client below writes raw
frames (RFC 9113) on a socket pair and reads back exactly what the server sent.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from hpack import Decoder, Encoder

from ledger_gw.fabric import grpc_wire as w
from ledger_gw.fabric.chaincode_server import Server

FRAME = struct.Struct(">HBBBI")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0x0,
    0x1,
    0x3,
    0x4,
    0x6,
    0x7,
    0x8,
    0x9,
)
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = 0x4, 0x5
PROTOCOL_ERROR, FRAME_SIZE_ERROR, ENHANCE_YOUR_CALM = 0x1, 0x6, 0xB


class Echo:
    """Sends back every message it gets; "stop" ends the call with an error status."""

    def __init__(self, call: w.Call) -> None:
        self.call = call

    def received(self, message: bytes) -> None:
        if message == b"stop":
            self.call.finish(w.INTERNAL, "asked to stop")
        else:
            self.call.send(message)

    def tick(self) -> None:
        pass

    def ended(self) -> None:
        pass


class Client:
    """The client's end: writes frames, reads frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.buffer = b""

    def send(self, kind: int, flags: int, stream_id: int, payload: bytes = b"") -> None:
        size = len(payload)
        self.sock.sendall(FRAME.pack(size >> 8, size & 0xFF, kind, flags, stream_id) + payload)

    def frame(self) -> tuple[int, int, int, bytes]:
        while True:
            if len(self.buffer) >= 9:
                high, low, kind, flags, stream_id = FRAME.unpack_from(self.buffer)
                size = high << 8 | low
                if len(self.buffer) >= 9 + size:
                    payload = self.buffer[9 : 9 + size]
                    self.buffer = self.buffer[9 + size :]
                    return kind, flags, stream_id, payload
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk

    def next_of(self, kind: int) -> tuple[int, int, bytes]:
        """The next frame of one kind, skipping the others (settings acks, updates)."""
        while True:
            got, flags, stream_id, payload = self.frame()
            if got == kind:
                return flags, stream_id, payload

    def open(self, stream_id: int, path: str, split: bool = False) -> None:
        block = self.encoder.encode(
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", path),
                (":authority", "localhost"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ]
        )
        if split:  # HEADERS, then the rest of the block in CONTINUATION
            self.send(HEADERS, 0, stream_id, block[:5])
            self.send(CONTINUATION, END_HEADERS, stream_id, block[5:])
        else:
            self.send(HEADERS, END_HEADERS, stream_id, block)

    def message(self, stream_id: int, message: bytes, end: bool = False) -> None:
        data = struct.pack(">BI", 0, len(message)) + message
        self.send(DATA, END_STREAM if end else 0, stream_id, data)


@pytest.fixture
def client() -> Iterator[Client]:
    server_end, client_end = socket.socketpair()
    connection = w.Connection(server_end, {"/test.Echo/Chat": Echo}, max_message=1 << 20)
    thread = threading.Thread(target=connection.run, daemon=True)
    thread.start()
    client_end.settimeout(5)
    peer = Client(client_end)
    client_end.sendall(PREFACE)
    yield peer
    client_end.close()
    thread.join(5)
    server_end.close()
    assert not thread.is_alive()


def _settings(**values: int) -> bytes:
    keys = {"initial_window": INITIAL_WINDOW_SIZE, "max_frame": MAX_FRAME_SIZE}
    return b"".join(struct.pack(">HI", keys[k], v) for k, v in values.items())


def test_the_server_opens_with_its_settings_and_acknowledges_the_clients(client: Client) -> None:
    kind, flags, _, payload = client.frame()
    assert (kind, flags) == (SETTINGS, 0)
    settings = dict(struct.iter_unpack(">HI", payload))
    assert settings[INITIAL_WINDOW_SIZE] == w.MAX_WINDOW
    client.send(SETTINGS, 0, 0, _settings(max_frame=16384))
    assert client.next_of(SETTINGS) == (ACK, 0, b"")


def test_a_ping_is_answered_with_its_own_payload(client: Client) -> None:
    client.send(PING, 0, 0, b"12345678")
    assert client.next_of(PING) == (ACK, 0, b"12345678")


def test_data_waits_for_the_clients_window(client: Client) -> None:
    client.send(SETTINGS, 0, 0, _settings(initial_window=10))
    client.open(1, "/test.Echo/Chat")
    flags, stream_id, block = client.next_of(HEADERS)
    assert (flags, stream_id) == (END_HEADERS, 1)
    assert dict(client.decoder.decode(block)) == {
        ":status": "200",
        "content-type": "application/grpc",
    }
    client.message(1, b"x" * 50)
    _, _, first = client.next_of(DATA)
    assert first == struct.pack(">BI", 0, 50) + b"x" * 5  # the stream's 10 bytes, no more
    client.send(PING, 0, 0, b"anything")  # a round trip: nothing else was sent meanwhile
    assert client.frame()[0] == PING
    client.send(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1000))
    _, _, rest = client.next_of(DATA)
    assert rest == b"x" * 45


def test_a_header_block_may_continue_and_the_call_ends_with_its_status(client: Client) -> None:
    client.open(3, "/test.Echo/Chat", split=True)
    client.next_of(HEADERS)
    client.message(3, b"hello")
    _, _, data = client.next_of(DATA)
    assert data == struct.pack(">BI", 0, 5) + b"hello"
    client.message(3, b"stop")
    flags, stream_id, block = client.next_of(HEADERS)
    assert (flags, stream_id) == (END_HEADERS | END_STREAM, 3)
    assert dict(client.decoder.decode(block)) == {
        "grpc-status": "13",
        "grpc-message": "asked to stop",
    }


def test_the_clients_end_of_stream_is_answered_with_ok(client: Client) -> None:
    client.open(5, "/test.Echo/Chat")
    client.next_of(HEADERS)
    client.message(5, b"last", end=True)
    _, _, data = client.next_of(DATA)
    assert data.endswith(b"last")
    flags, _, block = client.next_of(HEADERS)
    assert flags & END_STREAM
    assert dict(client.decoder.decode(block)) == {"grpc-status": "0"}


def test_the_answers_to_messages_read_together_go_in_one_frame(client: Client) -> None:
    client.open(9, "/test.Echo/Chat")
    client.next_of(HEADERS)
    messages = [struct.pack(">BI", 0, len(m)) + m for m in (b"one", b"two", b"three")]
    # Three DATA frames in one write: the server reads them at once.
    client.sock.sendall(b"".join(FRAME.pack(0, len(m), DATA, 0, 9) + m for m in messages))
    _, stream_id, data = client.next_of(DATA)
    assert (stream_id, data) == (9, b"".join(messages))


def test_an_unknown_method_is_answered_with_its_status_alone(client: Client) -> None:
    client.open(7, "/test.Echo/Other")
    flags, stream_id, block = client.next_of(HEADERS)
    assert (flags, stream_id) == (END_HEADERS | END_STREAM, 7)
    headers = dict(client.decoder.decode(block))
    assert headers["grpc-status"] == str(w.UNIMPLEMENTED)


# Hostile bytes, against the server's accept loop: each breaks only its own connection.


@pytest.fixture
def server() -> Iterator[Server]:
    listener = socket.create_server(("127.0.0.1", 0))
    running = Server(listener, None, {"/test.Echo/Chat": Echo})
    yield running
    running.stop(grace=0)


def _connect(server: Server, preface: bool = True) -> Client:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    if preface:
        sock.sendall(PREFACE)
    return Client(sock)


def _goaway_then_closed(client: Client) -> int | None:
    """The error code of the GOAWAY the server sent, if any; it must then close."""
    code = None
    while True:
        try:
            kind, _, _, payload = client.frame()
        except (AssertionError, ConnectionResetError):
            client.sock.close()
            return code  # closed
        if kind == GOAWAY:
            code = struct.unpack_from(">II", payload)[1]


def _still_serves(server: Server) -> None:
    client = _connect(server)
    client.open(1, "/test.Echo/Chat")
    client.next_of(HEADERS)
    client.message(1, b"still here")
    assert client.next_of(DATA)[2].endswith(b"still here")
    client.sock.close()


def test_a_client_that_is_not_http2_is_closed(server: Server) -> None:
    client = _connect(server, preface=False)
    client.sock.sendall(b"GET / HTTP/1.1\r\nHost: ledger\r\n\r\n")
    assert _goaway_then_closed(client) is None
    _still_serves(server)


def test_a_continuation_flood_is_cut_off(server: Server) -> None:
    client = _connect(server)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65_536)
    client.send(HEADERS, 0, 1, b"\x00\x01a\x01b")  # a header block that never ends
    sent, chunk = 0, b"\x00\x01a\x01b" * 3276  # 16,380 bytes of literal headers
    try:
        while sent < 256 * 2**20:
            client.send(CONTINUATION, 0, 1, chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    # h2 takes 64 CONTINUATION frames (1 MiB); the rest is what the sockets buffer.
    assert sent < 16 * 2**20
    assert _goaway_then_closed(client) == PROTOCOL_ERROR
    _still_serves(server)


@pytest.mark.parametrize(
    ("stream_id", "payload"),
    [
        (0, b"\x00\x00\x01"),  # 3 bytes
        (0, b"\x00\x00\x00\x01\x00"),  # 5 bytes
        (0, b"\x00\x00\x00\x00"),  # an increment of 0
        (0, struct.pack(">I", 2**31 - 1)),  # the window would pass 2^31 - 1
    ],
)
def test_a_malformed_window_update_closes_the_connection(
    server: Server, stream_id: int, payload: bytes
) -> None:
    client = _connect(server)
    client.send(WINDOW_UPDATE, 0, stream_id, payload)
    assert _goaway_then_closed(client) is not None
    _still_serves(server)


@pytest.mark.parametrize(
    ("stream_id", "payload"),
    [
        (0, b"\x00\x04\x00\x00\x01"),  # 5 bytes: not whole settings
        (0, struct.pack(">HI", MAX_FRAME_SIZE, 100)),  # below 16,384
        (0, struct.pack(">HI", MAX_FRAME_SIZE, 2**24)),  # above 2^24 - 1
        (0, struct.pack(">HI", INITIAL_WINDOW_SIZE, 2**31)),  # above 2^31 - 1
        (0, struct.pack(">HI", 0x2, 7)),  # ENABLE_PUSH is 0 or 1
        (1, struct.pack(">HI", MAX_FRAME_SIZE, 16_384)),  # on a stream
    ],
)
def test_malformed_settings_close_the_connection(
    server: Server, stream_id: int, payload: bytes
) -> None:
    client = _connect(server)
    client.send(SETTINGS, 0, stream_id, payload)
    assert _goaway_then_closed(client) is not None
    _still_serves(server)


def test_a_frame_larger_than_the_advertised_maximum_closes_the_connection(
    server: Server,
) -> None:
    client = _connect(server)
    client.open(1, "/test.Echo/Chat")
    client.send(DATA, 0, 1, b"\x00" * 16_385)
    assert _goaway_then_closed(client) == FRAME_SIZE_ERROR
    _still_serves(server)


def test_a_frame_declared_too_long_is_refused_before_it_arrives(server: Server) -> None:
    """The length in a frame's header is enough: the server does not buffer the
    megabytes a client announces before it refuses them."""
    client = _connect(server)
    client.open(1, "/test.Echo/Chat")
    size = 2**24 - 1  # what a frame header can say
    header = FRAME.pack(size >> 8, size & 0xFF, DATA, 0, 1)
    client.sock.sendall(header[:2])  # a header split between reads is read whole
    time.sleep(0.05)
    client.sock.sendall(header[2:] + b"\x00" * 100)
    client.sock.settimeout(5)
    assert _goaway_then_closed(client) == FRAME_SIZE_ERROR
    _still_serves(server)


@pytest.mark.parametrize("kind", [HEADERS, DATA])
def test_padding_longer_than_its_frame_closes_the_connection(server: Server, kind: int) -> None:
    client = _connect(server)
    if kind == DATA:
        client.open(1, "/test.Echo/Chat")
    client.send(kind, PADDED | END_HEADERS if kind == HEADERS else PADDED, 1, b"\xc8" + b"x" * 10)
    assert _goaway_then_closed(client) == PROTOCOL_ERROR
    _still_serves(server)


def test_a_client_gone_silent_mid_frame_holds_only_its_own_connection(server: Server) -> None:
    silent = _connect(server)
    silent.sock.sendall(FRAME.pack(0, 20, DATA, 0, 1)[:5])
    _still_serves(server)
    assert silent.frame()[0] == SETTINGS
    assert silent.frame()[0] == WINDOW_UPDATE
    silent.sock.settimeout(0.2)
    with pytest.raises(TimeoutError):  # nothing more, and not closed: it waits for the rest
        silent.frame()
    silent.sock.close()


def test_a_compressed_or_oversized_message_ends_its_call_not_the_connection(
    client: Client,
) -> None:
    client.open(1, "/test.Echo/Chat")
    client.next_of(HEADERS)
    client.send(DATA, 0, 1, struct.pack(">BI", 1, 3) + b"zip")
    flags, stream_id, block = client.next_of(HEADERS)
    assert (flags & END_STREAM, stream_id) == (END_STREAM, 1)
    assert dict(client.decoder.decode(block))["grpc-status"] == str(w.INTERNAL)
    client.open(3, "/test.Echo/Chat")
    client.next_of(HEADERS)
    client.send(DATA, 0, 3, struct.pack(">BI", 0, (1 << 20) + 1))
    _, stream_id, block = client.next_of(HEADERS)
    assert stream_id == 3
    assert dict(client.decoder.decode(block))["grpc-status"] == str(w.RESOURCE_EXHAUSTED)
    client.open(5, "/test.Echo/Chat")  # the connection still serves
    client.next_of(HEADERS)
    client.message(5, b"next")
    assert client.next_of(DATA)[2].endswith(b"next")


def test_frame_lengths_are_found_however_the_reads_cut_the_stream() -> None:
    """Frames of every allowed length pass in reads of any size; a header declaring
    more is caught in the read that brings its last byte."""
    rng = random.Random(7)
    for _ in range(200):
        lengths = [rng.choice([0, 1, 8, 9, 100, 16_384]) for _ in range(rng.randint(0, 12))]
        frames = [FRAME.pack(n >> 8, n & 0xFF, DATA, 0, 1) + b"x" * n for n in lengths]
        stream = PREFACE + b"".join(frames)
        big = len(stream)
        stream += FRAME.pack(0x100, 0, DATA, 0, 1) + b"y" * 20  # declares 65,536 bytes
        guard, at, caught = w._FrameLengths(16_384), 0, None
        while at < len(stream) and caught is None:
            read = stream[at : at + rng.choice([1, 2, 5, 9, 10, 64, 4096, 70_000])]
            if guard.exceeded(memoryview(read)):
                caught = (at, at + len(read))
            at += len(read)
        assert caught is not None
        assert caught[0] <= big + 8 < caught[1]
