"""gRPC's bidirectional streams over HTTP/2, server side, on one blocking socket.

The chaincode server has one long-lived stream per peer that carries many small
messages. Here one thread owns a connection: it reads what the socket has, hands the
bytes to `h2` (the HTTP/2 state machine, sans I/O), gives each gRPC message to its
stream's endpoint (which answers at once), and writes all the answers with one send,
each stream's in one DATA frame. A message costs no thread hand-off, no lock and no
event loop, where grpcio's threads took several context switches for each.

`h2` keeps HTTP/2 itself: the settings exchange and their ranges, PING answers, flow
control both ways, header blocks and their CONTINUATION (a bounded number), padding,
RST_STREAM, and GOAWAY when the client breaks the protocol. This module adds gRPC: the
5-byte message prefix, the response headers and the trailers that carry the status.
Compressed messages are refused (none is offered). It also reads each frame's declared
length as its header arrives, and refuses a frame longer than allowed at once: `h2`
would take in the whole frame before judging it.

Whoever reaches the port may connect, so what a connection may hold is what a peer
needs: a few streams (the peer opens one), one largest message's bytes in the partial
messages of all of them together, and no time before its first call beyond a deadline.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
import struct
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from h2 import events
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.exceptions import FrameTooLargeError, ProtocolError
from h2.settings import SettingCodes, Settings

MAX_WINDOW = 2**31 - 1
READ_SIZE = 262_144
OK, INTERNAL, UNIMPLEMENTED, RESOURCE_EXHAUSTED = 0, 13, 12, 8
#: Streams a client may have open at once: a peer's chat with the chaincode is one.
MAX_STREAMS = 4
_PREFIX = struct.Struct(">BI")
# Our own headers are constant and valid: checking them on every call buys nothing.
_CONFIG = H2Configuration(
    client_side=False,
    header_encoding=None,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
)
_RESPONSE = [(b":status", b"200"), (b"content-type", b"application/grpc")]
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class _FrameLengths:
    """Each frame's length, checked as soon as its header arrives: `h2` checks it only
    once the whole frame has, so a client declaring 16 MiB would have it buffered first."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._skip = len(_PREFACE)  # bytes before the next frame header
        self._header = b""  # a frame header's first bytes, split between reads

    def exceeded(self, data: memoryview) -> bool:
        size = len(data)
        at = self._skip  # where the first header starts in this read (maybe beyond it)
        if self._header:  # a header split between reads: its rest comes first
            rest = 9 - len(self._header)
            self._header += bytes(data[:rest])
            if len(self._header) < 9:
                self._skip = 0
                return False
            length = int.from_bytes(self._header[:3], "big")
            self._header = b""
            if length > self._most:
                return True
            at = rest + length
        while at + 9 <= size:  # whole headers: most reads hold several frames
            length = data[at] << 16 | data[at + 1] << 8 | data[at + 2]
            if length > self._most:
                return True
            at += 9 + length
        if at < size:
            self._header = bytes(data[at:])
            at = size
        self._skip = at - size
        return False


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
        self.pending = bytearray()  # data the flow control holds back
        self.trailers: list[tuple[bytes, bytes]] | None = None  # sent once `pending` has gone
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


class Connection:
    """The server side of one HTTP/2 connection; `run` serves it on the calling thread."""

    def __init__(
        self,
        sock: socket.socket,
        methods: Mapping[str, Method],
        max_message: int,
        tick: float = 1.0,
        *,
        first_call_by: float = math.inf,
    ) -> None:
        """`first_call_by`: the `time.monotonic()` by which the client must have opened a
        call (of a method served), or be closed; `max_message`: the largest message, and
        the most bytes all the calls' partial messages may hold at once."""
        self._sock = sock
        self._methods = methods
        self._max_message = max_message
        self._tick = tick
        self._first_call_by = first_call_by
        self._h2 = H2Connection(config=_CONFIG)
        # A stream's window is as large as HTTP/2 allows: the peer never waits for us.
        self._h2.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.INITIAL_WINDOW_SIZE: MAX_WINDOW,
                SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
                SettingCodes.MAX_HEADER_LIST_SIZE: 65_536,
            },
        )
        self._calls: dict[int, Call] = {}  # until their trailers are sent
        self._written: dict[int, Call] = {}  # calls with messages not yet framed
        self._received: dict[int, int] = {}  # flow-controlled bytes read, not yet acknowledged

    def run(self) -> None:
        """Serve until the client goes away or breaks the protocol; open calls then end."""
        try:
            self._serve()
        except ProtocolError:
            with contextlib.suppress(OSError):
                self._flush()  # the GOAWAY h2 prepared, where it gives one
        except OSError:
            pass
        finally:
            calls, self._calls = self._calls, {}
            for call in calls.values():
                self._close(call)

    def _serve(self) -> None:
        h2 = self._h2
        h2.initiate_connection()
        h2.increment_flow_control_window(MAX_WINDOW - h2.inbound_flow_control_window)
        self._flush()
        chunk = memoryview(bytearray(READ_SIZE))  # reused: a fresh one per read costs mmaps
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        pending = getattr(self._sock, "pending", lambda: 0)
        next_tick = time.monotonic() + self._tick
        lengths = _FrameLengths(h2.max_inbound_frame_size)
        while True:
            now = time.monotonic()
            if now >= self._first_call_by:  # no call yet: not a peer, or not one for us
                h2.close_connection()
                self._flush()
                return
            wait = max(0.0, min(next_tick, self._first_call_by) - now)
            if pending() or poller.poll(wait * 1000):
                size = self._sock.recv_into(chunk)
                if not size:
                    return
                if lengths.exceeded(chunk[:size]):
                    h2.close_connection(error_code=ErrorCodes.FRAME_SIZE_ERROR)
                    raise FrameTooLargeError("a frame longer than this server allows")
                for event in h2.receive_data(chunk[:size]):
                    if not self._event(event):
                        self._flush()
                        return
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick
                for call in list(self._calls.values()):
                    if call.endpoint is not None:
                        call.endpoint.tick()
            self._flush()

    def _flush(self) -> None:
        """Acknowledge what was read and frame what the calls wrote since the last flush,
        once per stream, then send it all at once."""
        received, self._received = self._received, {}
        for stream_id, size in received.items():
            self._h2.acknowledge_received_data(size, stream_id)
        written, self._written = self._written, {}
        for call in written.values():
            if self._calls.get(call.stream_id) is call:  # not reset meanwhile
                self._release_call(call)
        out = self._h2.data_to_send()
        if out:
            self._sock.sendall(out)

    def _event(self, event: events.Event) -> bool:
        """Act on one event; False once the client has ended the connection."""
        if isinstance(event, events.DataReceived):
            stream_id = event.stream_id or 0  # h2 always sets the fields it reports
            size = event.flow_controlled_length or 0
            self._received[stream_id] = self._received.get(stream_id, 0) + size
            call = self._calls.get(stream_id)
            if call is not None and call.endpoint is not None:
                self._data(call, event.data or b"")
        elif isinstance(event, events.RequestReceived):
            path = dict(event.headers or []).get(b":path", b"")
            self._open(event.stream_id or 0, bytes(path).decode("latin-1"))
        elif isinstance(event, events.StreamEnded):
            call = self._calls.get(event.stream_id or 0)
            if call is not None:
                self.finish(call, OK, "")
        elif isinstance(event, events.WindowUpdated):
            if event.stream_id:
                call = self._calls.get(event.stream_id)
                if call is not None:
                    self._release_call(call)
            else:
                self._release()
        elif isinstance(event, events.RemoteSettingsChanged):
            self._release()
        elif isinstance(event, events.StreamReset):
            call = self._calls.pop(event.stream_id or 0, None)
            if call is not None:
                self._close(call)
        elif isinstance(event, events.ConnectionTerminated):
            return False
        return True

    def _open(self, stream_id: int, path: str) -> None:
        method = self._methods.get(path)
        if method is None:
            self._h2.send_headers(
                stream_id,
                [
                    *_RESPONSE,
                    (b"grpc-status", str(UNIMPLEMENTED).encode()),
                    (b"grpc-message", f"no method {path}".encode()),
                ],
                end_stream=True,
            )
            return
        self._h2.send_headers(stream_id, _RESPONSE)
        self._first_call_by = math.inf
        call = Call(self, stream_id)
        self._calls[stream_id] = call
        call.endpoint = method(call)

    def _data(self, call: Call, data: bytes) -> None:
        """Hand the call's whole messages to its endpoint; keep a partial one."""
        inbox = call.inbox
        inbox += data
        used = 0
        while len(inbox) - used >= 5:
            compressed, size = _PREFIX.unpack_from(inbox, used)
            if compressed:
                self.finish(call, INTERNAL, "compressed messages are not accepted")
                return
            if size > self._max_message:
                self.finish(call, RESOURCE_EXHAUSTED, "message too large")
                return
            if len(inbox) - used - 5 < size:
                break
            message = bytes(inbox[used + 5 : used + 5 + size])
            used += 5 + size
            assert call.endpoint is not None
            call.endpoint.received(message)
            if call.closed:
                return
        del inbox[:used]
        if sum(len(c.inbox) for c in self._calls.values()) > self._max_message + _PREFIX.size:
            self.finish(call, RESOURCE_EXHAUSTED, "too many bytes of partial messages")

    @staticmethod
    def _close(call: Call) -> None:
        """No more messages for the endpoint: tell it, once, and drop what it would get."""
        endpoint, call.endpoint = call.endpoint, None
        call.inbox.clear()
        if endpoint is not None:
            endpoint.ended()

    def send_data(self, call: Call, data: bytes) -> None:
        if call.trailers is not None or self._calls.get(call.stream_id) is not call:
            return  # finished, reset by the client, or the connection is gone
        call.pending += data
        # Framed at the next flush: the answers to every message one read brought go in
        # one DATA frame, not one each (h2 spends more on a frame than on its bytes).
        self._written[call.stream_id] = call

    def finish(self, call: Call, status: int, message: str) -> None:
        """End the call: its endpoint hears no more, the status follows its data."""
        self._close(call)
        if call.trailers is not None or self._calls.get(call.stream_id) is not call:
            return
        call.trailers = [(b"grpc-status", str(status).encode())]
        if message:
            call.trailers.append((b"grpc-message", message.encode()))
        self._release_call(call)

    def _release(self) -> None:
        for call in list(self._calls.values()):
            self._release_call(call)

    def _release_call(self, call: Call) -> None:
        """Send what flow control allows of the call's data, then its trailers."""
        h2, pending = self._h2, call.pending
        while pending:
            window = h2.local_flow_control_window(call.stream_id)
            size = min(len(pending), window, h2.max_outbound_frame_size)
            if size <= 0:
                return
            h2.send_data(call.stream_id, bytes(pending[:size]))
            del pending[:size]
        if call.trailers is not None and self._calls.pop(call.stream_id, None) is not None:
            h2.send_headers(call.stream_id, call.trailers, end_stream=True)
