"""An HTTP server on a free local port that answers each path with a canned reply: the
other side of a gateway's outgoing calls, answering what a real one (or the proxy in
front of it) might."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseRequestHandler

Reply = tuple[int, str, bytes]  # status, Content-Type, body


@contextmanager
def serving_handler(handler: type[BaseRequestHandler]) -> Iterator[str]:
    """``handler`` (HTTP, or any other bytes) served on a free local port, in a thread:
    its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serving(replies: Mapping[str, Reply]) -> Iterator[str]:
    """The server's base URL; a request's path, less its query, picks its reply."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, kind, body = replies[self.path.split("?", 1)[0]]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer  # noqa: N815 - the stdlib's names

        def log_message(self, *_: object) -> None:
            pass

    with serving_handler(Handler) as url:
        yield url
