"""gunicorn's threaded worker, reading each request whole before a thread serves it.

gthread hands a connection to a thread as soon as it is readable; a client that sends
half a request then holds that thread until it finishes or gives up, and a few dozen such
clients stall the gateway. Here the worker's event loop reads the request without
blocking until its head and body are complete (see api.http_framing), and only then
hands it to a thread, with the bytes already read. A request not complete within
READ_TIMEOUT is dropped; a body over the limit is handed over at once (the app answers
413) and its connection closed after the answer, never drained.

Served over TLS (the log node), the loop makes the handshake too, without blocking and
within the same deadline: gthread would make it in a thread, which a client that sends
half a hello (no certificate needed) holds for ever.

A worker serves at most `worker_connections` at once. Full, gthread stops accepting, so
that as many connections, each sending a byte now and then, kept everyone else out. Here
a full worker goes on accepting while any connection is still reading its request, and
each new one closes the oldest of those from the source (address, or IPv6 /64) with the
most: a connection that trickles holds its slot only until someone needs it, and a
client that sends its request at once is served. The requests still arriving are held to
READS_HELD bytes in all the same way: each may send a body up to the limit and stop, and
a thousand such would hold tens of GiB.

Every worker waits on the same listening socket, and each new connection wakes them all:
the one already on a CPU wins, is woken again, and takes a whole burst (64 clients
connecting together landed 60 on one worker, whose one interpreter then served them while
three idled). So a worker holding more connections than threads, having taken as many
again as it has threads, leaves the socket to the others for ACCEPT_REST: a burst spreads,
and a flood of connections is still taken thousands a second.

A thread never writes to the socket either: it runs the app into an `Answer`, and the loop
sends that as fast as the client takes it. A client that reads slowly, or never (a few
dozen pipelining a large download and reading nothing held every thread), costs memory for
one answer, not a thread; it is dropped once it has taken no byte for WRITE_TIMEOUT, and a
full worker makes room from it as from a connection still reading. A pipelined request is
handed to a thread only once the answer before it is sent, so answers stay in order.

An answer that ends its connection half-closes it, then reads what the client still sends
until it closes too (RFC 9112, section 9.6: closed with bytes unread, the socket would
reset and could cut the answer short). gthread waits for that in its event loop, up to two
seconds, so one client that never closes stalled every connection of the worker; here the
loop lingers on it as on any other socket.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn import http  # type: ignore[import-untyped]
from gunicorn.http import errors as parse_errors  # type: ignore[import-untyped]
from gunicorn.sock import ssl_context  # type: ignore[import-untyped]
from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

from api.errors import PROBLEM, Problem
from api.http_framing import BODY_TOO_LARGE_KEY, MAX_BODY, MAX_HEAD, MAX_NODE_BODY, framing
from ledger_gw.peers import source

_log = logging.getLogger(__name__)

#: Seconds a client has to send a whole request, head and body.
READ_TIMEOUT = 30.0
#: Seconds a client may take no byte of its answer before its connection is dropped.
WRITE_TIMEOUT = 30.0
#: Bytes of answers a worker holds for clients still taking them; past it, the source with
#: the most such connections loses its oldest (a few dozen slow downloads fit).
ANSWERS_HELD = 64 << 20
#: Bytes of requests still arriving a worker holds, the same way: each connection may hold
#: a body up to the limit, and a thousand of them would hold tens of GiB (four of the log
#: node's largest batches fit, and sixteen of the gateway's largest bodies).
READS_HELD = 128 << 20
#: Long enough for an idle worker, woken with this one, to reach the socket on a loaded
#: machine; short enough that when every worker is past its share, no one waits for it.
ACCEPT_REST = 0.002
CHUNK = 64 << 10
#: How long a connection its answer ended may take to close, and how much it may send
#: meanwhile (gunicorn's own limits), before it is closed anyway.
LINGER = 2.0
LINGER_DRAIN = 64 << 10


def _answer(problem: Problem) -> bytes:
    """A whole problem+json answer, its connection then closed. It echoes nothing of the
    request: not its path, nor what gunicorn's parser quoted of it."""
    body = json.dumps(problem.body(None)).encode()
    return (
        f"HTTP/1.1 {problem.status} {problem.title}\r\nContent-Type: {PROBLEM}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


HEAD_TOO_LARGE = _answer(
    Problem(431, "request_header_fields_too_large", "the request's head is over 64 KiB")
)
BODY_TOO_LARGE = _answer(
    Problem(413, "request_entity_too_large", "the request's body is over the limit")
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# What gunicorn's parser refuses, answered as the app answers: a stable code each, and
# nothing quoted back (gunicorn's own page and log line quote the request line or header,
# which carry people's IDs and what a caseworker searched for).
_MALFORMED = Problem(400, "malformed_request", "the request is not well-formed HTTP/1.1")
_NOT_THE_CLIENTS = (  # parse errors of the answer the app made, or of gunicorn's settings
    parse_errors.InvalidResponseHeader,
    parse_errors.InvalidResponseHeaderName,
    parse_errors.ConfigurationProblem,
)
_PARSE_REFUSALS: dict[type[Exception], Problem] = {
    parse_errors.LimitRequestLine: Problem(414, "request_uri_too_large", "the URI is too long"),
    parse_errors.LimitRequestHeaders: Problem(
        431, "request_header_fields_too_large", "too many or too large header fields"
    ),
    parse_errors.UnsupportedTransferCoding: Problem(
        501, "unsupported_transfer_coding", "only chunked transfer coding is accepted"
    ),
    parse_errors.ExpectationFailed: Problem(
        417, "expectation_failed", "only 100-continue is expected"
    ),
}
_serving = threading.local()  # what a thread's current request was found to be


@dataclass(eq=False)  # each one is itself: the deque finds it by identity
class Reading:
    """A connection whose request is still arriving."""

    conn: Any
    deadline: float
    source: str  # whom it counts for (ledger_gw.peers), found once
    data: bytearray = field(default_factory=bytearray)
    continued: bool = False
    gone: bool = False  # handed over or dropped: a callback already polled must not run


@dataclass(eq=False)
class Writing:
    """A connection whose answer is leaving as fast as its client takes it."""

    conn: Any
    deadline: float  # pushed back by each byte the client takes
    source: str
    answer: memoryview
    served: Any  # the thread's future: whether the connection is kept alive after
    gone: bool = False


class Answer:
    """What a thread's request writes, in place of the socket: the loop sends it after."""

    def __init__(self) -> None:
        self.data = bytearray()

    def sendall(self, data: bytes) -> None:
        self.data += data

    def send(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> None:
        file.seek(offset)
        self.data += file.read(count)

    def setblocking(self, _flag: bool) -> None:
        pass

    def shutdown(self, _how: int) -> None:
        """An app failing mid-answer has its connection closed: by the loop, once sent."""
        raise OSError(errno.ENOTCONN, "closed by the loop once its answer is sent")

    def close(self) -> None:
        pass


@dataclass(eq=False)
class Lingering:
    """A connection its answer ended, waiting for its client to close."""

    sock: Any
    deadline: float
    drained: int = 0
    gone: bool = False


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with each request read in full by the event loop before a thread runs."""

    max_body = MAX_BODY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: deque[Reading] = deque()
        self.writing: deque[Writing] = deque()
        self.held = 0  # bytes of the answers in `writing`
        self.read_held = 0  # bytes of the requests in `reading`
        self.lingering: deque[Lingering] = deque()
        self._tls: ssl.SSLContext | None = None
        self._rest_until = 0.0  # leaving new connections to the other workers until then
        self._taken = 0  # connections accepted since the last rest

    def init_process(self) -> None:
        if self.cfg.is_ssl:  # once: gunicorn would load the key and CAs per connection
            self._tls = ssl_context(self.cfg)
        super().init_process()

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and time.monotonic() < self._rest_until:
            enabled = False
        elif not enabled and self.alive and self.ppid == os.getppid() and self._evictable:
            enabled = True  # full, but a connection still reading or stalled makes room
        super().set_accept_enabled(enabled)

    def accept(self, listener: Any) -> None:
        try:
            super().accept(listener)
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            _log.warning("no file descriptor left for a new connection: one still reading goes")
            if self._evictable:
                self._drop(self._to_close())
            return
        if self.nr_conns > self.worker_connections and self._evictable:
            self._drop(self._to_close())
        self._taken += 1
        if self.cfg.workers > 1 and self.nr_conns > self.cfg.threads <= self._taken:
            self._rest_until, self._taken = time.monotonic() + ACCEPT_REST, 0
            super().set_accept_enabled(False)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """Also ends a rest on time: gthread's loop asks to accept again after each
        event, and waits up to a second for one."""
        rest = self._rest_until - time.monotonic()
        if rest > 0:
            timeout = min(timeout, rest)
        elif self.alive and not self._accepting:
            self.set_accept_enabled(self.nr_conns < self.worker_connections)
        super().wait_for_and_dispatch_events(timeout)

    def handle(self, conn: TConn) -> Any:
        """Runs in a thread: the request, served into an `Answer` the loop then sends."""
        sock, conn.sock = conn.sock, Answer()
        _serving.socket = sock
        try:
            return super().handle(conn)
        finally:
            conn.answer, conn.sock = conn.sock.data, sock
            _serving.socket = None

    def finish_request(self, conn: TConn, fs: Any) -> None:
        answer = getattr(conn, "answer", b"")
        if not answer:
            self._finished(conn, fs)
            return
        conn.answer = b""
        writing = Writing(
            conn, time.monotonic() + WRITE_TIMEOUT, source(conn.client), memoryview(answer), fs
        )
        self.writing.append(writing)
        self.held += len(answer)
        while self.held > ANSWERS_HELD and len(self.writing) > 1:
            self._drop(self._to_close(self.writing))
        if not writing.gone:
            self._write(writing, conn.sock)

    def _write(self, writing: Writing, _sock: Any) -> None:
        if writing.gone:
            return
        conn = writing.conn
        try:
            while writing.answer:
                sent = conn.sock.send(writing.answer[:CHUNK])
                writing.answer = writing.answer[sent:]
                self.held -= sent
                writing.deadline = time.monotonic() + WRITE_TIMEOUT
        except (BlockingIOError, ssl.SSLWantWriteError):
            self._await(writing, selectors.EVENT_WRITE, self._write)
            return
        except ssl.SSLWantReadError:
            self._await(writing, selectors.EVENT_READ, self._write)
            return
        except (OSError, ValueError):  # gone, or closed
            self._drop(writing)
            return
        self._forget(writing)
        self._finished(conn, writing.served)

    def _finished(self, conn: TConn, fs: Any) -> None:
        """Its answer sent: the connection kept alive, or closed as its answer said."""
        try:
            ended = fs.cancelled() or not fs.result()
        except Exception:  # gthread closes it at once, and says why
            ended = False
        if not ended:
            super().finish_request(conn, fs)
            return
        self.nr_conns -= 1
        if len(self.lingering) >= self.worker_connections:
            self._close_lingering(self.lingering[0])
        lingering = Lingering(conn.sock, time.monotonic() + LINGER)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, lingering))
        except (OSError, ValueError, KeyError):  # gone already, or closed
            conn.close()
            return
        self.lingering.append(lingering)

    def _drain(self, lingering: Lingering, _sock: Any) -> None:
        if lingering.gone:
            return
        try:
            while lingering.drained < LINGER_DRAIN:
                data = lingering.sock.recv(CHUNK)
                if not data:
                    break
                lingering.drained += len(data)
        except (BlockingIOError, ssl.SSLWantReadError):
            return  # more to come, or its close
        except OSError:
            pass
        self._close_lingering(lingering)

    def _close_lingering(self, lingering: Lingering) -> None:
        lingering.gone = True
        self.lingering.remove(lingering)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(lingering.sock)
        with contextlib.suppress(OSError):
            lingering.sock.close()

    @property
    def _evictable(self) -> bool:
        return bool(self.reading or self.writing)

    def _to_close(self, among: Iterable[Reading | Writing] | None = None) -> Reading | Writing:
        """The oldest connection still reading its request or stalled on its answer (or
        `among`), of the source with most such: a flood from a few addresses makes room
        from its own connections."""
        found: list[Reading | Writing] = [*self.reading, *self.writing]
        if among is not None:
            found = list(among)
        most = Counter(r.source for r in found).most_common(1)[0][0]
        return next(r for r in found if r.source == most)

    def enqueue_req(self, conn: TConn) -> None:
        if getattr(conn, "request_ready", False):
            conn.request_ready = False
            super().enqueue_req(conn)
            return
        reading = Reading(conn, time.monotonic() + READ_TIMEOUT, source(conn.client))
        if conn.parser is not None:  # a kept-alive connection: what its parser read ahead
            reading.data += conn.parser.unreader.take_buffered() or b""
        self.reading.append(reading)
        self.read_held += len(reading.data)
        try:
            conn.sock.setblocking(False)
            if self._tls is not None and not isinstance(conn.sock, ssl.SSLSocket):
                conn.sock = self._tls.wrap_socket(
                    conn.sock,
                    server_side=True,
                    do_handshake_on_connect=False,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                )
                self._handshake(reading, conn.sock)
                return
            self._await(reading, selectors.EVENT_READ, self._read)
        except (OSError, ValueError):
            # Reset before it was read (wrap_socket asks the peer's address), or closed:
            # raised out of here, it would end the worker, and every request it serves.
            self._drop(reading)
            return
        self._read(reading, conn.sock)  # a kept-alive client's request is usually there

    def _await(self, waiting: Reading | Writing, events: int, then: Any) -> None:
        sock, callback = waiting.conn.sock, partial(then, waiting)
        try:
            self.poller.modify(sock, events, callback)
        except KeyError:
            self.poller.register(sock, events, callback)

    def _handshake(self, reading: Reading, _sock: Any) -> None:
        if reading.gone:
            return
        try:
            try:
                reading.conn.sock.do_handshake()
            except ssl.SSLWantReadError:
                self._await(reading, selectors.EVENT_READ, self._handshake)
                return
            except ssl.SSLWantWriteError:
                self._await(reading, selectors.EVENT_WRITE, self._handshake)
                return
            self._await(reading, selectors.EVENT_READ, self._read)
        except (OSError, ValueError):  # SSLError too: no certificate, or not a member's
            self._drop(reading)
            return
        self._read(reading, reading.conn.sock)  # the request may have come with the hello

    def _read(self, reading: Reading, _sock: Any) -> None:
        if reading.gone:  # closed for a newer connection, in the same poll as its data
            return
        conn = reading.conn
        ended = False  # the client sent all it will: its half of the connection is closed
        before = len(reading.data)
        try:
            while len(reading.data) < self.max_body + MAX_HEAD:
                chunk = conn.sock.recv(CHUNK)
                if not chunk:
                    ended = True
                    break
                reading.data += chunk
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except OSError:
            self._drop(reading)
            return
        finally:
            self.read_held += len(reading.data) - before
        while self.read_held > READS_HELD and len(self.reading) > 1:
            oldest = self._to_close(self.reading)
            self._drop(oldest)
            if oldest is reading:
                return
        try:
            found = framing(reading.data, self.max_body)
        except Exception:  # this loop serves every connection: one request must not end it
            _log.exception("could not frame a request; its connection is dropped")
            self._drop(reading)
            return
        if found.head_too_large:
            self._refuse(reading, HEAD_TOO_LARGE)
        elif found.complete:  # answered even if its client has closed its sending half
            # since: each request it sent is, then the next read finds the end
            self._hand_over(reading, close_after=found.body_too_large)
        elif ended:
            self._drop(reading)  # gone, or never to finish its request
        elif len(reading.data) >= self.max_body + MAX_HEAD:
            # Full, and still not a whole request (chunks of a byte each): reading no more,
            # the poller would call again at once until the deadline.
            self._refuse(reading, BODY_TOO_LARGE)
        elif found.expects_continue and not reading.continued:
            reading.continued = True
            self._send(conn, CONTINUE)

    def _hand_over(self, reading: Reading, close_after: bool) -> None:
        conn = reading.conn
        self._forget(reading)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = True
        conn.parser.unreader.unread(bytes(reading.data))
        conn.close_after = close_after
        conn.request_ready = True
        self.enqueue_req(conn)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app: Any = getattr(self, "wsgi")  # noqa: B009 - set by gunicorn, untyped

        def marked(environ: dict[str, Any], start_response: Any) -> Any:
            environ[BODY_TOO_LARGE_KEY] = getattr(_serving, "too_large", False)
            # The connection itself, for what it is (the node reads its peer's
            # certificate); what the app answers goes to start_response, not to it.
            environ["gunicorn.socket"] = _serving.socket
            return app(environ, start_response)

        self.wsgi = marked

    def handle_request(self, req: Any, conn: TConn) -> Any:
        # What this loop found, told to the app (api.bodies): a chunked body past the
        # limit is refused without being read, for the rest of it may never come.
        _serving.too_large = getattr(conn, "close_after", False)
        return super().handle_request(req, conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's answer to what its parser refuses, or to an app that failed past
        Flask, as problem+json; logged by kind, never with the request line it quotes."""
        if isinstance(exc, parse_errors.ParseException | ssl.SSLError) and not isinstance(
            exc, _NOT_THE_CLIENTS
        ):
            found = next(
                (p for kind, p in _PARSE_REFUSALS.items() if isinstance(exc, kind)), _MALFORMED
            )
            _log.warning(
                "refused a request its parser could not read",
                extra={"error": type(exc).__name__, "status": found.status},
            )
        else:
            found = Problem(500, "internal_error", "the gateway failed; its operator is told")
            _log.error("a request failed past the app", extra={"error": type(exc).__name__})
        with contextlib.suppress(OSError):
            client.sendall(_answer(found))

    def _keepalive_after(self, conn: TConn, keepalive: bool) -> bool:
        if getattr(conn, "close_after", False):
            return False  # the rest of an oversized body is never read
        return bool(super()._keepalive_after(conn, keepalive))

    def _refuse(self, reading: Reading, answer: bytes) -> None:
        self._send(reading.conn, answer)
        self._drop(reading)

    @staticmethod
    def _send(conn: TConn, data: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sock.send(data)

    def _forget(self, waiting: Reading | Writing) -> None:
        waiting.gone = True
        if isinstance(waiting, Reading):
            self.reading.remove(waiting)
            self.read_held -= len(waiting.data)
        else:
            self.writing.remove(waiting)
            self.held -= len(waiting.answer)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(waiting.conn.sock)

    def _drop(self, waiting: Reading | Writing) -> None:
        self._forget(waiting)
        self.nr_conns -= 1
        waiting.conn.close()

    def murder_pending(self) -> None:
        """Also drop the connections whose request did not arrive in time or whose client
        stopped taking its answer, and close those that lingered long enough."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading and self.reading[0].deadline <= now:
            self._drop(self.reading[0])
        for stalled in [w for w in self.writing if w.deadline <= now]:
            self._drop(stalled)
        while self.lingering and self.lingering[0].deadline <= now:
            self._close_lingering(self.lingering[0])


class NodeWorker(BufferingWorker):
    """The log node's: its members hand over batches larger than any one request."""

    max_body = MAX_NODE_BODY
