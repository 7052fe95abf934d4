"""Waiting for a service to be ready: whatever answers on its port, ready or not, is an
answer, never a crash of the command that waits (`ledger-gw demo up`)."""

from __future__ import annotations

import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_gw.topology.processes import HOST, answers_ready, free_port, start
from tests.support.disk import umask


@pytest.fixture(params=[b"garbage\r\n\r\n", b"HTTP/1.1 2OO OK\r\n\r\n", b"HTTP/1.1 20 OK\r\n\r\n"])
def garbled(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server on loopback that answers each connection with these bytes, then closes."""
    server = socket.create_server(("127.0.0.1", 0))
    answer: bytes = request.param

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed
            with conn:
                conn.recv(4096)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept
    server.close()
    thread.join(5)


def test_a_garbled_answer_is_not_ready(garbled: str) -> None:
    assert answers_ready(garbled)() is False


def test_a_services_log_is_its_owners_only_whatever_the_umask(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    log.write_text("an earlier run\n")
    log.chmod(0o664)  # as a umask of 002 would have made it
    with umask(0o002):
        url = f"http://{HOST}:{free_port()}"
        command = [sys.executable, "-c", "print('started', flush=True)"]
        service = start("a service", url, command, log, lambda: True)
        service.process.wait(30)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert log.read_text() == "an earlier run\nstarted\n"
