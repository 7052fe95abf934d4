"""Hostile HTTP clients of a witness's server (ledger_gw.witness.server), served for real
on a loopback port with a real memory: bodies too large, chunked or not; clients that
go on sending after their request; bytes that are no UTF-8; content types that are no
text. Each gets its answer, and the log's push is still served.

Once werkzeug has sent an answer it reads and discards whatever the client still sends
(up to 10 GB, so that a client sending too much sees a 413 rather than a reset). A
client that keeps sending after its answer would hold its connection as one being
served, never closed to make room: enough of them, from a few addresses, keep out
everyone, the log included.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_gw.log.checkpoint import Checkpoint, sign_checkpoint
from ledger_gw.log.note import NoteSigner, generate_signer
from ledger_gw.witness import AddCheckpoint, TrustedLog, WitnessHome
from ledger_gw.witness.server import MAX_BODY, MAX_CONNECTIONS, MAX_PER_ADDRESS, make_witness_server
from ledger_gw.witness.store import witnessed_in
from tests.support.witnesses import trickling

ORIGIN = "example.org/hostile"
READ_TIMEOUT_S = 1.0


class Served:
    def __init__(self, root: Path) -> None:
        self.log_key: NoteSigner = generate_signer(ORIGIN)[0]
        self.home = WitnessHome.create(root, "AGENCY-C")
        self.witness = self.home.open([TrustedLog(ORIGIN, self.log_key.verifier)])
        self.server = make_witness_server(self.witness, "127.0.0.1", 0, READ_TIMEOUT_S)
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()
        self.port = self.server.server_port

    def request(self, size: int, old: int = 0) -> bytes:
        cp = Checkpoint(ORIGIN, size, bytes([size]) * 32)
        return AddCheckpoint.build(old, (), sign_checkpoint(cp, self.log_key)).body()

    def connect(self, source: str = "127.0.0.1") -> socket.socket:
        return socket.create_connection(
            ("127.0.0.1", self.port), timeout=10, source_address=(source, 0)
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.witness.store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    running = Served(tmp_path / "w")
    yield running
    running.close()


def _head(body: bytes, content_type: str = "text/plain", **more: str) -> bytes:
    lines = ["POST /add-checkpoint HTTP/1.1", "Host: w", f"Content-Type: {content_type}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in more.items()]
    if "Transfer_Encoding" not in more:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(conn: socket.socket) -> bytes:
    """The whole answer (the server closes every connection after one)."""
    got = b""
    with contextlib.suppress(OSError):
        while chunk := conn.recv(65536):
            got += chunk
    return got


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _post(served: Served, body: bytes, content_type: str = "text/plain") -> bytes:
    with served.connect() as conn:
        conn.sendall(_head(body, content_type) + body)
        return _answer(conn)


def test_clients_that_go_on_sending_after_their_answer_cannot_keep_the_log_out(
    served: Served,
) -> None:
    """Every slot held by a client that sent a request whole, had its answer, and goes
    on sending a byte now and then: the log's push is still served, one of them closed
    to make room for it."""
    held: list[socket.socket] = []
    try:
        with trickling(held, READ_TIMEOUT_S / 4):
            for n in range(MAX_CONNECTIONS // MAX_PER_ADDRESS):
                for _ in range(MAX_PER_ADDRESS):
                    conn = served.connect(f"127.0.1.{n + 1}")
                    held.append(conn)
                    # A whole request, and more after it than one read of the request takes.
                    conn.sendall(_head(b"hello") + b"hello" + b"x" * (256 * 1024))
                    assert conn.recv(12) == b"HTTP/1.1 400"
            time.sleep(READ_TIMEOUT_S * 1.5)  # past the read timeout: trickling keeps them
            push = _post(served, served.request(3))
        assert _status(push) == 200, push[:200]
    finally:
        for conn in held:
            conn.close()
    latest = served.witness.latest(ORIGIN)
    assert latest is not None
    assert latest.size == 3


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json"],
)
def test_a_content_type_that_is_no_text_changes_nothing_of_the_body(
    served: Served, content_type: str
) -> None:
    """The body is read as the bytes sent, never parsed as a form."""
    assert _status(_post(served, served.request(2), content_type)) == 200
    again = _post(served, served.request(2, old=2), content_type)
    assert _status(again) == 200


def test_bodies_too_large_chunked_or_not_are_refused_and_change_nothing(
    served: Served, tmp_path: Path
) -> None:
    assert _status(_post(served, served.request(2))) == 200
    state = served.home.root / "witness.db"
    before = witnessed_in(state, ORIGIN)
    big = served.request(5, old=2) + b"x" * MAX_BODY
    assert _status(_post(served, big)) == 413
    with served.connect() as conn:  # announced, never sent
        conn.sendall(_head(b"").replace(b"Content-Length: 0", b"Content-Length: 1000000000000"))
        assert _status(_answer(conn)) == 413
    with served.connect() as conn:  # chunked, past the limit
        conn.sendall(_head(b"", Transfer_Encoding="chunked"))
        chunk = b"x" * 65536
        with contextlib.suppress(OSError):
            for _ in range(4):
                conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            conn.sendall(b"0\r\n\r\n")
        assert _status(_answer(conn)) in (400, 413)
    for bad in (b"\xff\xfe" + served.request(5, old=2), b"old 2\n\n\xc3\x28"):
        answer = _post(served, bad)
        assert _status(answer) == 400
        assert b"malformed_request: the request is not UTF-8" in answer
    assert witnessed_in(state, ORIGIN) == before
