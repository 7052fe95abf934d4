"""gRPC's bidirectional streams over HTTP/2, server side, on one blocking socket.

The chaincode server has one long-lived stream per peer that carries many small
messages. Here one thread owns a connection: it reads what the socket has, parses the
frames, hands each gRPC message to its stream's endpoint (which answers at once), and
writes all the answers with one send. A message costs no thread hand-off, no lock and no
event loop, where grpcio's threads took several context switches for each.

What HTTP/2 needs of a server that only answers (RFC 9113): the settings exchange, PING
acknowledgements, flow control both ways, HEADERS with CONTINUATION (decoded with
HPACK; ours are plain literals, so no table is shared), RST_STREAM and GOAWAY. gRPC adds
the 5-byte message prefix, the response headers and the trailers that carry the status.
Compressed messages are refused (none is offered).
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from hpack import Decoder, HPACKError

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
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = 0x4, 0x5
MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535
READ_SIZE = 262_144
OK, INTERNAL, UNIMPLEMENTED, RESOURCE_EXHAUSTED = 0, 13, 12, 8
_FRAME = struct.Struct(">HBBBI")
_PREFIX = struct.Struct(">BI")


class ProtocolError(Exception):
    """The client broke HTTP/2 or gRPC framing: the connection is closed."""


class Endpoint(Protocol):
    """One open call, as the method sees it."""

    def received(self, message: bytes) -> None: ...

    def tick(self) -> None:
        """Called about once a second while the connection lives."""

    def ended(self) -> None:
        """The client ended the call, reset it, or the connection closed."""


class Call:
    """A call's sending side: messages, then the status (trailers)."""

    def __init__(self, connection: Connection, stream_id: int) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self.window = connection.peer_initial_window
        self.pending = bytearray()  # data the flow control holds back
        self.trailers: bytes | None = None  # once finished: sent when `pending` has gone
        self.received_unacked = 0
        self.inbox = bytearray()
        self.endpoint: Endpoint | None = None  # None once ended

    @property
    def closed(self) -> bool:
        return self.endpoint is None

    def send(self, message: bytes) -> None:
        self._connection.send_data(self, _PREFIX.pack(0, len(message)) + message)

    def finish(self, status: int = OK, message: str = "") -> None:
        self._connection.finish(self, status, message)


Method = Callable[[Call], Endpoint]


def _frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    size = len(payload)
    return _FRAME.pack(size >> 8, size & 0xFF, kind, flags, stream_id) + payload


def _header_block(fields: list[tuple[str, str]]) -> bytes:
    """HPACK literals without indexing: the client's table is never touched."""
    block = bytearray()
    for name, value in fields:
        block.append(0)
        for text in (name.encode(), value.encode()):
            block += _hpack_length(len(text)) + text
    return bytes(block)


def _hpack_length(n: int) -> bytes:
    if n < 127:
        return bytes([n])
    out, n = bytearray([127]), n - 127
    while n >= 128:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Connection:
    """The server side of one HTTP/2 connection; `run` serves it on the calling thread."""

    def __init__(
        self,
        sock: socket.socket,
        methods: Mapping[str, Method],
        max_message: int,
        tick: float = 1.0,
    ) -> None:
        self._sock = sock
        self._methods = methods
        self._max_message = max_message
        self._tick = tick
        self._decoder = Decoder()
        self._out = bytearray()
        self._calls: dict[int, Call] = {}  # until their trailers are sent
        self._window = DEFAULT_WINDOW  # what we may still send on the connection
        self._received_unacked = 0
        self._max_frame = 16_384
        self.peer_initial_window = DEFAULT_WINDOW
        self._headers: tuple[int, int, bytearray] | None = None  # awaiting CONTINUATION

    def run(self) -> None:
        """Serve until the client goes away; every open call is then ended."""
        try:
            self._serve()
        except (OSError, ProtocolError):
            pass
        finally:
            calls, self._calls = self._calls, {}
            for call in calls.values():
                self._close(call)

    def _serve(self) -> None:
        self._out += _frame(SETTINGS, 0, 0, struct.pack(">HI", INITIAL_WINDOW_SIZE, MAX_WINDOW))
        self._out += _frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW - DEFAULT_WINDOW))
        self._flush()
        buffer = bytearray()
        chunk = memoryview(bytearray(READ_SIZE))  # reused: a fresh one per read costs mmaps
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        pending = getattr(self._sock, "pending", lambda: 0)
        next_tick = time.monotonic() + self._tick
        preface = False
        while True:
            if pending() or poller.poll(self._tick * 1000):
                size = self._sock.recv_into(chunk)
                if not size:
                    return
                buffer += chunk[:size]
                if not preface:
                    if len(buffer) < len(PREFACE):
                        continue
                    if buffer[: len(PREFACE)] != PREFACE:
                        raise ProtocolError("not an HTTP/2 client")
                    del buffer[: len(PREFACE)]
                    preface = True
                self._frames(buffer)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick
                for call in list(self._calls.values()):
                    if call.endpoint is not None:
                        call.endpoint.tick()
            self._flush()

    def _flush(self) -> None:
        if self._out:
            self._sock.sendall(self._out)
            self._out.clear()

    def _frames(self, buffer: bytearray) -> None:
        """Handle every whole frame at the front of `buffer`, and remove them."""
        start, end = 0, len(buffer)
        try:
            while end - start >= 9:
                high, low, kind, flags, stream_id = _FRAME.unpack_from(buffer, start)
                size = high << 8 | low
                if end - start < 9 + size:
                    break
                payload = bytes(buffer[start + 9 : start + 9 + size])
                start += 9 + size
                self._frame(kind, flags, stream_id & MAX_WINDOW, payload)
        finally:
            del buffer[:start]

    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._headers is not None and kind != CONTINUATION:
            raise ProtocolError("a header block was interrupted")
        if kind == DATA:
            self._data(flags, stream_id, payload)
        elif kind == HEADERS:
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & PRIORITY:
                payload = payload[5:]
            self._headers = (stream_id, flags, bytearray(payload))
            if flags & END_HEADERS:
                self._header_block()
        elif kind == CONTINUATION:
            if self._headers is None or self._headers[0] != stream_id:
                raise ProtocolError("CONTINUATION out of place")
            self._headers[2].extend(payload)
            if flags & END_HEADERS:
                self._header_block()
        elif kind == WINDOW_UPDATE:
            (increment,) = struct.unpack(">I", payload)
            if stream_id == 0:
                self._window += increment & MAX_WINDOW
            elif stream_id in self._calls:
                self._calls[stream_id].window += increment & MAX_WINDOW
            self._release()
        elif kind == PING:
            if not flags & ACK:
                self._out += _frame(PING, ACK, 0, payload)
        elif kind == SETTINGS:
            if not flags & ACK:
                self._settings(payload)
                self._out += _frame(SETTINGS, ACK, 0)
        elif kind == RST_STREAM:
            call = self._calls.pop(stream_id, None)
            if call is not None:
                self._close(call)
        elif kind == GOAWAY:
            raise ProtocolError("the client is going away")
        # PRIORITY and unknown frame types carry nothing for us

    def _settings(self, payload: bytes) -> None:
        for offset in range(0, len(payload) - 5, 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == INITIAL_WINDOW_SIZE:
                for call in self._calls.values():
                    call.window += value - self.peer_initial_window
                self.peer_initial_window = value
            elif key == MAX_FRAME_SIZE:
                self._max_frame = value
        self._release()

    def _header_block(self) -> None:
        assert self._headers is not None
        stream_id, flags, block = self._headers
        self._headers = None
        try:
            headers = dict(self._decoder.decode(bytes(block), raw=True))
        except HPACKError as error:
            raise ProtocolError(f"bad header block: {error}") from error
        if stream_id not in self._calls:
            self._open(stream_id, bytes(headers.get(b":path", b"")).decode("latin-1"))
        call = self._calls.get(stream_id)
        if flags & END_STREAM and call is not None:
            self.finish(call, OK, "")

    def _open(self, stream_id: int, path: str) -> None:
        call = Call(self, stream_id)
        method = self._methods.get(path)
        if method is None:
            self._trailers_only(stream_id, UNIMPLEMENTED, f"no method {path}")
            return
        self._out += _frame(
            HEADERS,
            END_HEADERS,
            stream_id,
            _header_block([(":status", "200"), ("content-type", "application/grpc")]),
        )
        self._calls[stream_id] = call
        call.endpoint = method(call)

    def _trailers_only(self, stream_id: int, status: int, message: str) -> None:
        block = _header_block(
            [
                (":status", "200"),
                ("content-type", "application/grpc"),
                ("grpc-status", str(status)),
                ("grpc-message", message),
            ]
        )
        self._out += _frame(HEADERS, END_HEADERS | END_STREAM, stream_id, block)

    def _data(self, flags: int, stream_id: int, payload: bytes) -> None:
        self._received_unacked += len(payload)
        if self._received_unacked > MAX_WINDOW // 2:
            self._out += _frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self._received_unacked))
            self._received_unacked = 0
        call = self._calls.get(stream_id)
        if call is None or call.endpoint is None:
            return
        call.received_unacked += len(payload)
        if call.received_unacked > MAX_WINDOW // 2:
            self._out += _frame(
                WINDOW_UPDATE, 0, stream_id, struct.pack(">I", call.received_unacked)
            )
            call.received_unacked = 0
        if flags & PADDED:
            payload = payload[1 : len(payload) - payload[0]]
        inbox = call.inbox
        inbox += payload
        used = 0
        while len(inbox) - used >= 5:
            compressed, size = _PREFIX.unpack_from(inbox, used)
            if compressed:
                raise ProtocolError("compressed messages are not accepted")
            if size > self._max_message:
                self.finish(call, RESOURCE_EXHAUSTED, "message too large")
                return
            if len(inbox) - used - 5 < size:
                break
            message = bytes(inbox[used + 5 : used + 5 + size])
            used += 5 + size
            call.endpoint.received(message)
            if call.closed:
                return
        del inbox[:used]
        if flags & END_STREAM:
            self.finish(call, OK, "")

    @staticmethod
    def _close(call: Call) -> None:
        """No more messages for the endpoint: tell it, once."""
        endpoint, call.endpoint = call.endpoint, None
        if endpoint is not None:
            endpoint.ended()

    def send_data(self, call: Call, data: bytes) -> None:
        if call.trailers is not None:
            return
        call.pending += data
        self._release_call(call)

    def finish(self, call: Call, status: int, message: str) -> None:
        """End the call: its endpoint hears no more, the status follows its data."""
        self._close(call)
        if call.trailers is not None:
            return
        fields = [("grpc-status", str(status))]
        if message:
            fields.append(("grpc-message", message))
        call.trailers = _frame(
            HEADERS, END_HEADERS | END_STREAM, call.stream_id, _header_block(fields)
        )
        self._release_call(call)

    def _release(self) -> None:
        for call in list(self._calls.values()):
            self._release_call(call)

    def _release_call(self, call: Call) -> None:
        """Send what flow control allows of the call's data, then its trailers."""
        pending = call.pending
        while pending:
            size = min(len(pending), self._window, call.window, self._max_frame)
            if size <= 0:
                return
            self._out += _frame(DATA, 0, call.stream_id, bytes(pending[:size]))
            del pending[:size]
            self._window -= size
            call.window -= size
        if call.trailers is not None and self._calls.pop(call.stream_id, None) is not None:
            self._out += call.trailers
