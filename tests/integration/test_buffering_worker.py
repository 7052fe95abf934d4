"""The gateway's gunicorn worker when it is full: trickling connections make room for new
ones, and the worker's event loop survives a connection closed while its data waits."""

from __future__ import annotations

import collections
import contextlib
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.gunicorn import free_port
from tests.support.tls import self_signed_localhost
from tests.support.wsgi_ok import LARGE

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
def _serving(
    tmp_path: Path, app: str, workers: int = 1, tls: bool = False
) -> Iterator[tuple[int, Path]]:
    """Over TLS, the log node's worker, its self-signed certificate next to the log."""
    port, log = free_port(), tmp_path / "gunicorn.log"
    worker, over_tls, verify = "api.worker.BufferingWorker", [], ""
    if tls:
        cert, key = self_signed_localhost()
        verify = str(tmp_path / "cert.pem")
        (tmp_path / "cert.pem").write_bytes(cert)
        (tmp_path / "key.pem").write_bytes(key)
        worker = "api.worker.NodeWorker"
        over_tls = ["--certfile", verify, "--keyfile", str(tmp_path / "key.pem")]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "2"),
                *("--worker-class", worker, *over_tls),
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
                url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
                if requests.get(url, timeout=2, verify=verify or True).ok:
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


def _answer_of(conn: socket.socket, pause: float = 0.0) -> bytes:
    """The body of one answer on a kept-alive connection, read `pause` seconds apart."""
    conn.settimeout(5)
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(1)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
    while len(body) < length:
        body += conn.recv(min(4096, length - len(body)))
        time.sleep(pause)
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


@pytest.fixture
def downloads(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The same worker, answering any path but `/` with a MiB."""
    with _serving(tmp_path, "tests.support.wsgi_ok:large") as running:
        yield running


def _download(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: w\r\n\r\n"


def _reading_little(port: int, address: str = "127.0.0.1") -> socket.socket:
    """A connection whose client takes its answers through a small window, if at all."""
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.bind((address, 0))
    conn.connect(("127.0.0.1", port))
    return conn


def _served_at_once(port: int, address: str = "127.0.0.1") -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), source_address=(address, 0)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: w\r\n\r\n")
        assert _answer_of(conn) == b"ok"
    assert time.monotonic() - started < 3.0  # stalled, it waited for the 5 s read timeout


def test_clients_that_never_take_their_downloads_stall_no_one(
    downloads: tuple[int, Path],
) -> None:
    """More clients than threads, each pipelining downloads larger than the socket's
    buffers and reading nothing: each thread waited on one of them for ever."""
    port, _ = downloads
    held = [_reading_little(port) for _ in range(6)]
    try:
        for conn in held:
            conn.sendall(_download(b"/big") * 8)
        time.sleep(0.5)
        for _ in range(3):
            _served_at_once(port)
    finally:
        for conn in held:
            conn.close()


def test_a_full_worker_makes_room_from_downloads_no_one_takes(
    downloads: tuple[int, Path],
) -> None:
    """As many connections as the worker serves, each with an answer its client does not
    take: a new client from elsewhere closes the oldest of them and is served."""
    port, _ = downloads
    held = [_reading_little(port, "127.0.0.6") for _ in range(CONNECTIONS)]
    try:
        for conn in held:
            conn.sendall(_download(b"/big") * 8)  # past what the kernel buffers
        time.sleep(0.5)
        _served_at_once(port, "127.0.0.5")
        assert _closed_by_server(held[0])
    finally:
        for conn in held:
            conn.close()


def _closed_by_server(conn: socket.socket) -> bool:
    """Whether the server closed it: what it had sent, then its end (or a reset)."""
    conn.settimeout(5)
    try:
        while conn.recv(1 << 16):
            pass
    except TimeoutError:
        return False
    except OSError:
        pass
    return True


def test_a_slow_reader_gets_its_pipelined_downloads_whole_and_in_order(
    downloads: tuple[int, Path],
) -> None:
    """Its answers wait for it, each sent once the one before is, whole."""
    port, _ = downloads
    paths = [b"/first", b"/second", b"/third"]
    with _reading_little(port) as conn:
        conn.sendall(b"".join(_download(path) for path in paths))
        time.sleep(1)  # taking nothing for a while, then a little at a time
        bodies = [_answer_of(conn, pause=0.0005) for _ in paths]
    assert [len(body) for body in bodies] == [LARGE] * 3
    assert [body[: len(path) * 2] for body, path in zip(bodies, paths, strict=True)] == [
        path * 2 for path in paths
    ]
    assert all(body == (path * LARGE)[:LARGE] for body, path in zip(bodies, paths, strict=True))


@pytest.fixture
def downloads_over_tls(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    with _serving(tmp_path, "tests.support.wsgi_ok:large", tls=True) as running:
        yield running


def _over_tls(conn: socket.socket, log: Path) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=log.parent / "cert.pem")
    return context.wrap_socket(conn, server_hostname="127.0.0.1")


def test_the_node_worker_serves_on_while_clients_over_tls_take_no_answer(
    downloads_over_tls: tuple[int, Path],
) -> None:
    """The same over TLS, where a send can want the socket readable or writable: the
    stalled take nothing from the others, and a slow reader gets its answers whole."""
    port, log = downloads_over_tls
    held = [_over_tls(_reading_little(port), log) for _ in range(6)]
    try:
        for conn in held:
            conn.sendall(_download(b"/big") * 8)
        time.sleep(0.5)
        started = time.monotonic()
        with _over_tls(socket.create_connection(("127.0.0.1", port)), log) as conn:
            conn.sendall(_download(b"/"))
            assert _answer_of(conn) == b"ok"
        assert time.monotonic() - started < 3.0  # stalled, it waited for the 5 s read timeout
        with _over_tls(_reading_little(port), log) as conn:
            conn.sendall(_download(b"/first") + _download(b"/second"))
            time.sleep(0.5)
            bodies = [_answer_of(conn, pause=0.0005) for _ in range(2)]
        assert bodies == [(b"/first" * LARGE)[:LARGE], (b"/second" * LARGE)[:LARGE]]
    finally:
        for conn in held:
            conn.close()
