"""The witness over HTTP: ``POST /add-checkpoint`` as C2SP tlog-witness defines it.

Werkzeug's threaded server: each connection has its own thread, and a socket read
times out, so a client that never finishes its request holds one thread for a
while, never the witness. Bodies are bounded before they are read. Connections are
bounded too, in all and from one address: a client that keeps many open, each
sending a byte now and then, would otherwise have the witness start threads without
end, and the log whose checkpoints it cosigns could no longer reach it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from ledger_gw.witness.errors import Reason, RefusedError, SizeConflictError
from ledger_gw.witness.protocol import SIZE_CONTENT_TYPE, format_size
from ledger_gw.witness.service import Witness

#: A checkpoint with 100 signatures and 63 proof lines fits many times over.
MAX_BODY = 64 * 1024
READ_TIMEOUT_S = 10.0
#: Connections served at once, in all and from one address; more are closed unread.
MAX_CONNECTIONS = 128
MAX_PER_ADDRESS = 16

STATUS = {
    Reason.MALFORMED: 400,
    Reason.BAD_SIGNATURE: 403,
    Reason.UNKNOWN_LOG: 404,
    Reason.OLD_SIZE: 409,
    Reason.FORK: 409,
    Reason.BAD_PROOF: 422,
}


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
        try:
            done = witness.add_checkpoint(body)
        except SizeConflictError as exc:
            return Response(format_size(exc.size), 409, content_type=SIZE_CONTENT_TYPE)
        except RefusedError as exc:
            return _text(STATUS[exc.reason], f"{exc.code}: {exc}")
        return Response(done.cosignature, 200, mimetype="text/plain")

    return app


class _BoundedServer(ThreadedWSGIServer):
    """One thread per connection, for MAX_CONNECTIONS of them, MAX_PER_ADDRESS from one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: Counter[str] = Counter()
        self._counting = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        address = str(client_address[0])
        with self._counting:
            full = self._open.total() >= MAX_CONNECTIONS
            if full or self._open[address] >= MAX_PER_ADDRESS:
                self.shutdown_request(request)
                return
            self._open[address] += 1
        try:
            super().process_request(request, client_address)  # its thread, started
        except BaseException:
            self._closed(address)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._closed(str(client_address[0]))

    def _closed(self, address: str) -> None:
        with self._counting:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]


def make_witness_server(
    witness: Witness, host: str, port: int, read_timeout: float = READ_TIMEOUT_S
) -> BaseWSGIServer:
    """A threaded server bound to (host, port); port 0 picks a free one (``server_port``)."""
    # socketserver applies the handler's timeout to every read of the connection.
    handler = type("TimedRequestHandler", (WSGIRequestHandler,), {"timeout": read_timeout})
    return _BoundedServer(host, port, create_app(witness), handler)


def serve(
    witness: Witness,
    host: str,
    port: int,
    ready: Callable[[str], None] = lambda _: None,
    *,
    read_timeout: float = READ_TIMEOUT_S,
) -> None:
    """Serve until interrupted; ``ready`` gets the base URL once the socket listens."""
    server = make_witness_server(witness, host, port, read_timeout)
    ready(f"http://{host}:{server.server_port}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        witness.store.close()
