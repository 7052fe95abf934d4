"""A connection the log node resets between the TCP and the TLS handshakes (a node
stopping, or refusing) fails the gateway's request, and its descriptor is released then,
not whenever a garbage collection finds the socket: the error that says so is kept a
while (urllib3 keeps it in a reference cycle), and a gateway whose node restarts would
otherwise hold descriptors it no longer uses."""

from __future__ import annotations

import gc
import os
import socket
import struct
import time
import warnings
from pathlib import Path

import pytest

from ledger_gw.remote import tls


def _reset_by_its_peer() -> socket.socket:
    """A client socket on loopback whose peer has reset the connection (RST, not FIN)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        accepted, _ = listener.accept()
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    accepted.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            client.getpeername()
        except OSError:  # the reset has arrived: no longer connected
            return client
        assert time.monotonic() < deadline, "the reset never arrived"
        time.sleep(0.01)


def _holds(fd: int, inode: int) -> bool:
    """Whether descriptor ``fd`` is still the socket it was (not closed, nor reused)."""
    try:
        return os.fstat(fd).st_ino == inode
    except OSError:
        return False


def test_a_connection_reset_before_the_handshake_is_closed_at_once(tmp_path: Path) -> None:
    cert, key = tmp_path / "node.pem", tmp_path / "node.key"
    tls.ensure_server_certificate(cert, key, ["127.0.0.1"])
    context = tls.client_context(cert, cert, key)  # any key pair will do as the client's
    sock = _reset_by_its_peer()
    fd = sock.fileno()
    inode = os.fstat(fd).st_ino
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConnectionResetError) as failed:
            context.wrap_socket(sock, server_hostname="127.0.0.1")  # as urllib3 calls it
        assert not _holds(fd, inode), "the descriptor is held for as long as the error is"
        del failed
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
