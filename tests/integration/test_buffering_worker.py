"""The gateway's gunicorn worker when it is full: trickling connections make room for new
ones, and the worker's event loop survives a connection closed while its data waits."""

from __future__ import annotations

import collections
import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.gunicorn import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HALF = b"GET / HTTP/1.1\r\nHost: w\r\nX-Slow: "
CONNECTIONS = 20


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """One BufferingWorker of CONNECTIONS connections, serving a plain app."""
    with _serving(tmp_path, "tests.support.wsgi_ok:app") as running:
        yield running


@contextlib.contextmanager
def _serving(tmp_path: Path, app: str, workers: int = 1) -> Iterator[tuple[int, Path]]:
    port, log = free_port(), tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "2"),
                *("--worker-class", "api.worker.BufferingWorker"),
                *("--worker-connections", str(CONNECTIONS), "--bind", f"127.0.0.1:{port}"),
                app,
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=2).ok:
                    break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield port, log
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_closing_a_connection_whose_data_waits_in_the_same_poll_ends_no_worker(
    served: tuple[int, Path],
) -> None:
    """Full, each new connection closes the oldest still reading; a byte sent on that one
    at the same moment makes its read ready in the same poll. Its read must not run on
    the closed socket (which ended the worker: a node serves on one)."""
    port, log = served
    held: collections.deque[socket.socket] = collections.deque()
    for _ in range(CONNECTIONS):
        conn = socket.create_connection(("127.0.0.1", port))
        conn.sendall(HALF)
        held.append(conn)
    time.sleep(0.3)
    try:
        for _ in range(300):
            new = socket.socket()
            new.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                new.connect(("127.0.0.1", port))
            for old in list(held)[:3]:
                with contextlib.suppress(OSError):
                    old.send(b"a")
            time.sleep(0.002)
            try:
                new.setblocking(True)
                new.sendall(HALF)
            except OSError:
                pass
            held.append(new)
            while len(held) > 2 * CONNECTIONS:
                held.popleft().close()
        time.sleep(0.5)
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "ok"
    finally:
        for conn in held:
            conn.close()
    text = log.read_text()
    assert "exited with code" not in text, text[-2000:]
    assert text.count("Booting worker") == 1


def test_a_flood_from_one_address_makes_room_from_its_own_connections(
    served: tuple[int, Path],
) -> None:
    """A request on its way from one address, then three times the worker's connections
    trickling from another: they close one another, never the request, which then ends."""
    port, _ = served
    honest = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.5", 0))
    honest.sendall(b"GET / HTTP/1.1\r\nHost: w\r\n")
    flood = []
    try:
        for _ in range(3 * CONNECTIONS):
            conn = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.6", 0))
            conn.sendall(HALF)
            flood.append(conn)
        time.sleep(0.3)
        honest.sendall(b"Connection: close\r\n\r\n")
        honest.settimeout(5)
        assert honest.recv(4096).startswith(b"HTTP/1.1 200 ")
    finally:
        honest.close()
        for conn in flood:
            conn.close()


def test_connections_opened_together_spread_over_the_workers(tmp_path: Path) -> None:
    """Clients connecting at the same moment are each woken for by every worker; the first
    to run must not take them all while the others idle."""
    with _serving(tmp_path, "tests.support.wsgi_ok:worker", workers=3) as (port, log):
        deadline = time.monotonic() + 30
        while log.read_text().count("Booting worker") < 3:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(0.5)  # and in its loop
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        try:
            time.sleep(0.3)  # every connection taken by a worker before any request
            for conn in conns:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: w\r\n\r\n")
            served = collections.Counter(_answer_of(conn) for conn in conns)
        finally:
            for conn in conns:
                conn.close()
    assert len(served) == 3, served
    assert max(served.values()) <= CONNECTIONS // 2, served


def test_clients_that_never_close_after_their_last_answer_stall_no_one(
    served: tuple[int, Path],
) -> None:
    """An answer that ends its connection waits for its client to close too; clients that
    never do must not hold the worker's loop, and every other connection, meanwhile."""
    port, _ = served
    started, idle = time.monotonic(), []
    try:
        for _ in range(5):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"GET / HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n")
            assert _all_of(conn).endswith(b"\r\n\r\nok")
            idle.append(conn)
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).text == "ok"
        assert time.monotonic() - started < 4  # each one stalled it for 2 s
    finally:
        for conn in idle:
            conn.close()


def _answer_of(conn: socket.socket) -> bytes:
    """The body of one answer on a kept-alive connection."""
    conn.settimeout(5)
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(4096)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
    while len(body) < length:
        body += conn.recv(4096)
    return body


def _all_of(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    received = b""
    while chunk := conn.recv(4096):
        received += chunk
    return received


@pytest.fixture
def reading(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The same worker, serving an app that reads bodies as the gateway does."""
    with _serving(tmp_path, "tests.support.wsgi_bodies:app") as running:
        yield running


POST = b"POST / HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = b"POST / HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"


def _sent_then_closed(port: int, request_bytes: bytes) -> bytes:
    """Everything answered to ``request_bytes`` sent with the end of the client's half
    of the connection in the same segment (corked), so that the worker reads both at
    once, as it would from a slower client or a busier worker."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        conn.sendall(request_bytes)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(5)
        received = b""
        while chunk := conn.recv(4096):
            received += chunk
    return received


@pytest.mark.parametrize(
    ("request_bytes", "answers"),
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: w\r\n\r\n", [b"read 0"], id="a-get"),
        pytest.param(POST, [b"read 5"], id="a-post"),
        pytest.param(CHUNKED, [b"read 5"], id="chunks"),
        pytest.param(POST + CHUNKED, [b"read 5", b"read 5"], id="two-in-a-row"),
    ],
)
def test_a_client_that_closes_its_half_after_its_requests_is_answered(
    reading: tuple[int, Path], request_bytes: bytes, answers: list[bytes]
) -> None:
    """HTTP/1.1 lets a client close its sending half once its request is sent (as
    `nc -N` does): each request is answered, then the connection closed."""
    received = _sent_then_closed(reading[0], request_bytes)
    assert received.count(b"HTTP/1.1 ") == received.count(b"HTTP/1.1 200 OK\r\n")
    assert re.findall(rb"\r\n\r\n(read \d+)", received) == answers, received


def test_a_request_cut_short_by_its_client_is_not_answered(reading: tuple[int, Path]) -> None:
    port, _ = reading
    assert _sent_then_closed(port, POST[:-2]) == b""
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).ok  # and the worker serves on
