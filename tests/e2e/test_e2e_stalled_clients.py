"""Clients that never finish their requests hold no thread of a real `ledger-gw serve`."""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import pytest
import requests
from e2e_server import Server

from api.http_framing import MAX_BODY
from api.worker import READS_HELD

pytestmark = pytest.mark.slow

HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Slow: "
HALF_BODY = (
    b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
    b'Content-Length: 1000\r\n\r\n{"event": '
)
HALF_CHUNKED = (
    b'POST /v1/events HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"a'
)


@contextmanager
def stalled(url: str, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections, each with a third of them half a head, body or chunked body."""
    parts = urlsplit(url)
    with ExitStack() as stack:
        socks = []
        for i in range(count):
            s = stack.enter_context(socket.create_connection((parts.hostname, parts.port)))
            s.sendall((HALF_HEAD, HALF_BODY, HALF_CHUNKED)[i % 3])
            socks.append(s)
        yield socks


def _healthz_within_a_second(url: str) -> None:
    started = time.monotonic()
    answer = requests.get(f"{url}/healthz", timeout=1)
    assert answer.status_code == 200
    assert time.monotonic() - started < 1


def test_a_hundred_stalled_requests_do_not_stall_the_gateway(server: Server) -> None:
    with stalled(server.url, 100):
        time.sleep(0.5)  # every worker has seen them all
        for _ in range(5):
            _healthz_within_a_second(server.url)
    _healthz_within_a_second(server.url)


BUNDLE = b"GET /docs/assets/swagger-ui-bundle.js HTTP/1.1\r\nHost: gw\r\n\r\n"  # a public MiB


def test_clients_that_never_take_their_answers_do_not_stall_the_gateway(server: Server) -> None:
    """More clients than both workers have threads, each pipelining the largest public
    download and reading none of it: each thread waited on one of them to take its answer,
    and the gateway answered no one until they closed."""
    parts = urlsplit(server.url)
    with ExitStack() as stack:
        for _ in range(40):
            s = stack.enter_context(socket.socket())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect((parts.hostname, parts.port))
            s.sendall(BUNDLE * 8)  # more than the kernel buffers between them
        time.sleep(1)
        for _ in range(5):
            _healthz_within_a_second(server.url)
    _healthz_within_a_second(server.url)


def test_a_request_sent_in_pieces_is_served(server: Server) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        time.sleep(0.3)
        s.sendall(b"st: gw\r\nConnection: close\r\n\r\n")
        answer = b"".join(iter(lambda: s.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_an_oversized_head_is_refused(server: Server) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * (80 << 10))
        answer = b"".join(iter(lambda: s.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert _problem(answer)["code"] == "request_header_fields_too_large"


def _problem(answer: bytes) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\nContent-Type: application/problem+json\r\n" in head, answer[:300]
    found: dict[str, object] = json.loads(body)
    return found


SEARCHED = b"Fatima-Al-Hassan-1990-01-01"  # what a caseworker typed


@pytest.mark.parametrize(
    "request_bytes",
    [
        # a client that leaves a space unencoded in a search URL
        b"GET /v1/registrations?q=Fatima " + SEARCHED + b" HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET  /v1/registrations?q=" + SEARCHED + b" HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET /v1/persons/" + SEARCHED + b"\x7f/history HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-" + SEARCHED + b"\x01: 1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Note: a\r\n " + SEARCHED + b"\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Length: +5\r\n\r\n" + SEARCHED,
    ],
    ids=[
        "space in query",
        "double space",
        "control in path",
        "control in header name",
        "folded header",
        "signed length",
    ],
)
def test_what_the_parser_refuses_is_problem_json_and_logged_without_the_request(
    server: Server, request_bytes: bytes
) -> None:
    """gunicorn's own answer is an HTML page and its log line quotes the request line or
    header: what a caseworker searched for, written into the operator's log."""
    answer = _answer_to(server, request_bytes)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert _problem(answer)["code"] == "malformed_request"
    assert SEARCHED not in answer
    time.sleep(0.2)
    log = (server.directory / "gunicorn.log").read_bytes()
    assert SEARCHED not in log
    assert b"refused a request its parser could not read" in log


def test_a_body_over_the_limit_is_413_chunked_or_not(server: Server) -> None:
    token = {**server.headers("AGENCY-A"), "Content-Type": "application/json"}
    too_big = b"[" + b" " * MAX_BODY + b"]"

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(too_big), 1 << 20):
            yield too_big[at : at + (1 << 20)]

    for body in (too_big, chunks()):
        r = requests.post(f"{server.url}/v1/events", data=body, headers=token, timeout=30)
        assert r.status_code == 413
        assert r.headers["Content-Type"] == "application/problem+json"
        assert r.json()["code"] == "request_entity_too_large"
    _healthz_within_a_second(server.url)


def _answer_to(server: Server, request: bytes) -> bytes:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(request)
        return b"".join(iter(lambda: s.recv(4096), b""))


@pytest.mark.parametrize(
    "request_bytes",
    [
        # a chunk size of -6 sent the reading back to where it began, for ever
        b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n-6\r\n",
        # a digit to str.isdigit, not to int(): an exception out of the worker's loop
        b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Length: \xb2\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Length: " + b"0" * 5000 + b"\r\n\r\n",
    ],
    ids=["negative chunk", "superscript length", "long length"],
)
def test_framing_that_is_no_http_is_refused_and_the_worker_goes_on(
    server: Server, request_bytes: bytes
) -> None:
    assert _answer_to(server, request_bytes).startswith(b"HTTP/1.1 400 ")
    for _ in range(4):  # every worker still serves
        _healthz_within_a_second(server.url)


def test_a_chunked_body_too_large_in_declared_size_holds_no_thread(server: Server) -> None:
    """A chunk declared past the limit, its data sent up to it and one byte more, then
    silence: refused at once, the thread not left waiting for the rest."""
    head = b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as s:
        s.sendall(head + b"1000000\r\n" + b"A" * (MAX_BODY + 1))
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")
    _healthz_within_a_second(server.url)


def test_every_log_line_is_json_and_each_request_has_its_access_line(server: Server) -> None:
    r = requests.get(f"{server.url}/healthz", headers={"X-Request-ID": "probe-7"}, timeout=5)
    assert r.headers["X-Request-ID"] == "probe-7"
    time.sleep(0.2)
    lines = (server.directory / "gunicorn.log").read_text().splitlines()
    banner = [line for line in lines if line.startswith("Gateway http://")]  # on stdout
    assert len(banner) == 1
    records = [json.loads(line) for line in lines if line not in banner]  # gunicorn's too
    assert any(rec["logger"] == "gunicorn.error" for rec in records)
    [probe] = [rec for rec in records if rec.get("request_id") == "probe-7"]
    assert (probe["logger"], probe["route"], probe["status"]) == ("api.access", "/healthz", 200)


def test_stalled_connections_past_every_workers_share_keep_no_client_out(
    server: Server,
) -> None:
    """More half requests than both workers together serve at once (1,000 each): each
    new connection closes the oldest one still reading, so a whole request gets in."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * 1000 + 500
    if soft < wanted + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted + 256), hard))
    try:
        with stalled(server.url, wanted) as socks:
            time.sleep(0.5)
            for _ in range(5):
                _healthz_within_a_second(server.url)
            assert _closed_by_server(socks[0])  # the oldest made room
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    _healthz_within_a_second(server.url)


def test_bodies_that_never_end_hold_a_bounded_memory(server: Server) -> None:
    """Each connection may send a body up to the limit and stop there: 40 of them, near
    8 MiB each, are past what both workers together hold of requests still arriving
    (READS_HELD each), so the oldest are closed at once, not at the read timeout, and
    the gateway goes on answering."""
    parts = urlsplit(server.url)
    size = MAX_BODY - (512 << 10)
    head = (
        b"POST /v1/events HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {MAX_BODY - 1024}\r\n\r\n".encode()
    )
    body = b" " * size
    with ExitStack() as stack:
        socks, cut = [], 0
        for _ in range(40):
            s = stack.enter_context(socket.create_connection((parts.hostname, parts.port)))
            try:
                s.sendall(head + body)
            except OSError:  # closed while it was still sending
                cut += 1
            socks.append(s)
        time.sleep(1)
        _healthz_within_a_second(server.url)
        closed = cut + sum(_closed_by_server(s, wait=0.2) for s in socks)
        assert closed >= (40 * size - 2 * READS_HELD) // size
    _healthz_within_a_second(server.url)


def _closed_by_server(sock: socket.socket, wait: float = 5) -> bool:
    """Whether the server closed it (an end, or a reset) within ``wait`` seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(4096) == b""
    except TimeoutError:  # still open, and silent
        return False
    except OSError:
        return True
