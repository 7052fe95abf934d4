"""A WSGI app that answers every request at once: a server's own behaviour under test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def worker(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answers with the ID of the process that served: which worker took the connection."""
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


LARGE = 1 << 20


def large(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answers `/` plainly and any other path with a MiB of that path's name, repeated: a
    download larger than any socket's buffers, telling which request it answers."""
    path = environ["PATH_INFO"].encode()
    body = b"ok" if path == b"/" else (path * (LARGE // len(path) + 1))[:LARGE]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
