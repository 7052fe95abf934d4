"""The chaincode server's HTTP/2 layer, frame by frame, against a client written here.

gRPC's own client gives a server more window than any test message needs, so flow
control, split header blocks and PINGs are driven by hand: the client below writes raw
frames (RFC 9113) on a socket pair and reads back exactly what the server sent.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from hpack import Decoder, Encoder

from ledger_gw.fabric import grpc_wire as w

FRAME = struct.Struct(">HBBBI")


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
            self.send(w.HEADERS, 0, stream_id, block[:5])
            self.send(w.CONTINUATION, w.END_HEADERS, stream_id, block[5:])
        else:
            self.send(w.HEADERS, w.END_HEADERS, stream_id, block)

    def message(self, stream_id: int, message: bytes, end: bool = False) -> None:
        data = struct.pack(">BI", 0, len(message)) + message
        self.send(w.DATA, w.END_STREAM if end else 0, stream_id, data)


@pytest.fixture
def client() -> Iterator[Client]:
    server_end, client_end = socket.socketpair()
    connection = w.Connection(server_end, {"/test.Echo/Chat": Echo}, max_message=1 << 20)
    thread = threading.Thread(target=connection.run, daemon=True)
    thread.start()
    client_end.settimeout(5)
    peer = Client(client_end)
    client_end.sendall(w.PREFACE)
    yield peer
    client_end.close()
    thread.join(5)
    server_end.close()
    assert not thread.is_alive()


def _settings(**values: int) -> bytes:
    keys = {"initial_window": w.INITIAL_WINDOW_SIZE, "max_frame": w.MAX_FRAME_SIZE}
    return b"".join(struct.pack(">HI", keys[k], v) for k, v in values.items())


def test_the_server_opens_with_its_settings_and_acknowledges_the_clients(client: Client) -> None:
    kind, flags, _, payload = client.frame()
    assert (kind, flags) == (w.SETTINGS, 0)
    assert struct.unpack(">HI", payload) == (w.INITIAL_WINDOW_SIZE, w.MAX_WINDOW)
    client.send(w.SETTINGS, 0, 0, _settings(max_frame=16384))
    assert client.next_of(w.SETTINGS) == (w.ACK, 0, b"")


def test_a_ping_is_answered_with_its_own_payload(client: Client) -> None:
    client.send(w.PING, 0, 0, b"12345678")
    assert client.next_of(w.PING) == (w.ACK, 0, b"12345678")


def test_data_waits_for_the_clients_window(client: Client) -> None:
    client.send(w.SETTINGS, 0, 0, _settings(initial_window=10))
    client.open(1, "/test.Echo/Chat")
    flags, stream_id, block = client.next_of(w.HEADERS)
    assert (flags, stream_id) == (w.END_HEADERS, 1)
    assert dict(client.decoder.decode(block)) == {
        ":status": "200",
        "content-type": "application/grpc",
    }
    client.message(1, b"x" * 50)
    _, _, first = client.next_of(w.DATA)
    assert first == struct.pack(">BI", 0, 50) + b"x" * 5  # the stream's 10 bytes, no more
    client.send(w.PING, 0, 0, b"anything")  # a round trip: nothing else was sent meanwhile
    assert client.frame()[0] == w.PING
    client.send(w.WINDOW_UPDATE, 0, 1, struct.pack(">I", 1000))
    _, _, rest = client.next_of(w.DATA)
    assert rest == b"x" * 45


def test_a_header_block_may_continue_and_the_call_ends_with_its_status(client: Client) -> None:
    client.open(3, "/test.Echo/Chat", split=True)
    client.next_of(w.HEADERS)
    client.message(3, b"hello")
    _, _, data = client.next_of(w.DATA)
    assert data == struct.pack(">BI", 0, 5) + b"hello"
    client.message(3, b"stop")
    flags, stream_id, block = client.next_of(w.HEADERS)
    assert (flags, stream_id) == (w.END_HEADERS | w.END_STREAM, 3)
    assert dict(client.decoder.decode(block)) == {
        "grpc-status": "13",
        "grpc-message": "asked to stop",
    }


def test_the_clients_end_of_stream_is_answered_with_ok(client: Client) -> None:
    client.open(5, "/test.Echo/Chat")
    client.next_of(w.HEADERS)
    client.message(5, b"last", end=True)
    _, _, data = client.next_of(w.DATA)
    assert data.endswith(b"last")
    flags, _, block = client.next_of(w.HEADERS)
    assert flags & w.END_STREAM
    assert dict(client.decoder.decode(block)) == {"grpc-status": "0"}


def test_an_unknown_method_is_answered_with_its_status_alone(client: Client) -> None:
    client.open(7, "/test.Echo/Other")
    flags, stream_id, block = client.next_of(w.HEADERS)
    assert (flags, stream_id) == (w.END_HEADERS | w.END_STREAM, 7)
    headers = dict(client.decoder.decode(block))
    assert headers["grpc-status"] == str(w.UNIMPLEMENTED)
