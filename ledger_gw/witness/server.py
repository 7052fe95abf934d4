"""The witness over HTTP: ``POST /add-checkpoint`` as C2SP tlog-witness defines it.

Werkzeug's threaded server: each connection has its own thread, and a socket read
times out, so a client that never finishes its request holds one thread for a
while, never the witness. Bodies are bounded before they are read. Connections are
bounded too, in all and from one address: a client that keeps many open, each
sending a byte now and then, would otherwise have the witness start threads without
end (an IPv6 address counts by its /64). Once full, a new connection closes the oldest
one whose request is not whole yet, of its own address once that address has its
share, else of the address with most such, rather than being turned away: connections
that trickle hold their slots only until someone else needs one, and a client that
sends its request at once, as the log does, is served. Once its answer is sent, a
connection may be closed so again: werkzeug then reads whatever the client still
sends (so that one sending too much sees its 413), and a client that keeps sending
would otherwise hold its slot as one being served.

SIGTERM (what a service manager, `docker stop` or the topology sends) stops it as
Ctrl-C does: no new connection, those waiting for a request closed, the requests being
served answered, their cosignatures kept, and then the memory closed.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

from ledger_gw.errors import ConfigError
from ledger_gw.peers import source
from ledger_gw.witness.errors import Reason, RefusedError, SizeConflictError
from ledger_gw.witness.protocol import SIZE_CONTENT_TYPE, format_size
from ledger_gw.witness.service import Witness

#: A checkpoint with 100 signatures and 63 proof lines fits many times over.
MAX_BODY = 64 * 1024
READ_TIMEOUT_S = 10.0
#: Connections served at once, in all and from one address; more are closed unread.
MAX_CONNECTIONS = 128
MAX_PER_ADDRESS = 16
WHOLE = "ledger_gw.witness.request_whole"  # environ: call once the body is read
ANSWERED = "ledger_gw.witness.request_answered"  # environ: call once the answer is sent

STATUS = {
    Reason.MALFORMED: 400,
    Reason.BAD_SIGNATURE: 403,
    Reason.UNKNOWN_LOG: 404,
    Reason.OLD_SIZE: 409,
    Reason.FORK: 409,
    Reason.BAD_PROOF: 422,
}


def _unserved() -> None:
    """Outside _BoundedServer (a test client, another WSGI server): nothing to tell."""


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status, mimetype="text/plain")


def create_app(witness: Witness) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        try:
            body = request.get_data(cache=False)
        except (ClientDisconnected, OSError):  # the client stopped sending: the read timed out
            return _text(408, "the request body did not arrive in time")
        request.environ.get(WHOLE, _unserved)()  # its connection is no longer to be closed
        try:
            done = witness.add_checkpoint(body)
        except SizeConflictError as exc:
            return Response(format_size(exc.size), 409, content_type=SIZE_CONTENT_TYPE)
        except RefusedError as exc:
            return _text(STATUS[exc.reason], f"{exc.code}: {exc}")
        return Response(done.cosignature, 200, mimetype="text/plain")

    return app


@dataclass
class _Open:
    """A connection being served, and whether its current request has arrived whole."""

    address: str
    whole: bool = False


class _BoundedServer(ThreadedWSGIServer):
    """One thread per connection, for MAX_CONNECTIONS of them, MAX_PER_ADDRESS from one:
    past either, one still reading its request is closed for the new one."""

    daemon_threads = False  # server_close waits for the requests being served

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: dict[socket.socket, _Open] = {}  # oldest first
        self._counting = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        """An address the witness cannot listen on, as one line with a code (werkzeug
        would print the bare reason and exit)."""
        try:
            super().server_bind()
        except OSError as exc:
            busy = exc.errno == errno.EADDRINUSE
            reason = "the port is in use by another process" if busy else exc.strerror
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {reason}") from None

    def server_close(self) -> None:
        """Stop listening, close the connections waiting for a request, and wait for the
        requests being served: a cosignature being made is kept and answered."""
        with self._counting:
            for conn, state in self._open.items():
                if not state.whole:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
        super().server_close()

    def process_request(self, request: Any, client_address: Any) -> None:
        address = source(client_address)
        with self._counting:
            ours = [c for c, o in self._open.items() if o.address == address]
            full = None
            if len(ours) >= MAX_PER_ADDRESS:
                full = ours
            elif len(self._open) >= MAX_CONNECTIONS:
                full = self._most_reading()
            if full is not None and not self._close_oldest_reading(full):
                self.shutdown_request(request)  # every one is being served: not for long
                return
            self._open[request] = _Open(address)
        try:
            super().process_request(request, client_address)  # its thread, started
        except BaseException:
            self._closed(request)
            raise

    def _most_reading(self) -> list[socket.socket]:
        """The connections of the address with the most requests not whole yet: the one
        to make room, rather than whoever came first (a push waiting for its body)."""
        reading = Counter(o.address for o in self._open.values() if not o.whole)
        if not reading:
            return []
        most = reading.most_common(1)[0][0]
        return [c for c, o in self._open.items() if o.address == most]

    def _close_oldest_reading(self, connections: list[socket.socket]) -> bool:
        for conn in connections:
            if not self._open[conn].whole:
                del self._open[conn]
                with contextlib.suppress(OSError):  # its thread's read ends, and so its thread
                    conn.shutdown(socket.SHUT_RDWR)
                return True
        return False

    def reading(self, conn: socket.socket) -> None:
        """The connection waits for a request, or has had its answer: it may be closed
        for another."""
        with self._counting:
            if conn in self._open:
                self._open[conn].whole = False

    def whole(self, conn: socket.socket) -> None:
        """The connection's request has been read whole: it is being served."""
        with self._counting:
            if conn in self._open:
                self._open[conn].whole = True

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._closed(request)

    def _closed(self, conn: socket.socket) -> None:
        with self._counting:
            self._open.pop(conn, None)


class _Handler(WSGIRequestHandler):
    """Tells the server when a connection waits for its request and when it has it."""

    server: _BoundedServer

    def handle_one_request(self) -> None:
        self.server.reading(self.connection)
        super().handle_one_request()

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        environ[WHOLE] = partial(self.server.whole, self.connection)
        environ[ANSWERED] = partial(self.server.reading, self.connection)
        return environ


def _telling_when_answered(app: WSGIApplication) -> WSGIApplication:
    """``app``, calling the environ's ANSWERED once its answer's last bytes are written
    (the server writes each before asking for the next), before werkzeug reads on."""

    def answer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        body: Iterable[bytes] = app(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        environ.get(ANSWERED, _unserved)()

    return answer


def make_witness_server(
    witness: Witness, host: str, port: int, read_timeout: float = READ_TIMEOUT_S
) -> BaseWSGIServer:
    """A threaded server bound to (host, port); port 0 picks a free one (``server_port``)."""
    # socketserver applies the handler's timeout to every read of the connection.
    handler = type("TimedRequestHandler", (_Handler,), {"timeout": read_timeout})
    return _BoundedServer(host, port, _telling_when_answered(create_app(witness)), handler)


def serve(
    witness: Witness,
    host: str,
    port: int,
    ready: Callable[[str], None] = lambda _: None,
    *,
    read_timeout: float = READ_TIMEOUT_S,
) -> None:
    """Serve until interrupted or terminated (SIGINT, SIGTERM); ``ready`` gets the base
    URL once the socket listens. Called in the main thread, which handles signals."""
    with contextlib.closing(witness.store):
        server = make_witness_server(witness, host, port, read_timeout)
        # shutdown() waits for serve_forever, which this thread runs: another one calls it.
        stop = signal.signal(
            signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start()
        )
        try:
            ready(f"http://{host}:{server.server_port}")
            server.serve_forever()
        finally:
            signal.signal(signal.SIGTERM, stop)
            server.server_close()
