"""The chaincode server against hostile clients and peers, over real gRPC.

Whoever reaches the server's port may connect before any peer authenticates (TLS
client certificates are optional), and a member decides what its proposals carry: the
server must keep accepting peers, keep each stream's transactions apart, and hold no
more memory than a proposal's certificate needs.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.internal.encoder import _VarintBytes

from ledger_gw.fabric.proposal import FabricSigner
from tests.unit.fabric.test_fabric_shim import FakePeer, M, _response
from tests.unit.fabric.test_fabric_shim import connect as connect  # the fixtures
from tests.unit.fabric.test_fabric_shim import signer as signer

__all__ = ["connect", "signer"]

Contract = Callable[[Any, str, Sequence[bytes]], bytes]
ROOT = Path(__file__).resolve().parents[3]

#: A chaincode server in a process of its own, allowed few file descriptors.
_SERVER = """
import resource, sys
from ledger_gw.fabric.chaincode_server import serve
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
server, port = serve("127.0.0.1:0", "ledger:abc", None, members={"AGENCY-B": "agency"},
                     contract=lambda stub, fn, args: b"{}")
print(port, flush=True)
sys.stdin.read()
server.stop(grace=None)
"""


@pytest.fixture
def frugal_server() -> Iterator[int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    ) as server:
        assert server.stdout is not None
        assert server.stdin is not None
        try:
            yield int(server.stdout.readline())
        finally:
            server.stdin.close()
            server.wait(10)


def test_a_client_holding_every_file_descriptor_does_not_stop_the_server_accepting(
    frugal_server: int,
) -> None:
    """Connections the server has no descriptor for are refused while they last, and
    peers connect again once they are gone: the first refusal must not end accepting."""
    idle = [socket.create_connection(("127.0.0.1", frugal_server)) for _ in range(80)]
    time.sleep(0.5)  # the server has met the limit
    for sock in idle:
        sock.close()
    time.sleep(0.5)
    peer = FakePeer(grpc.insecure_channel(f"127.0.0.1:{frugal_server}"))
    assert peer.handshake().type == M.REGISTER
    peer.close()


@dataclass(frozen=True)
class PaddedSigner(FabricSigner):
    """A member whose creator carries a field no SerializedIdentity has: Fabric's MSP
    reads the MSP ID and certificate and ignores it, so the peer passes it on."""

    pad: bytes = b""

    @property
    def creator(self) -> bytes:
        field = _VarintBytes(15 << 3 | 2) + _VarintBytes(len(self.pad))
        return super().creator + field + self.pad


def test_creators_padded_by_a_member_are_not_kept(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    peer = connect(lambda stub, function, args: stub.creator.org_id.encode())
    peer.handshake()
    count, size = 24, 2 << 20
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            padded = PaddedSigner(signer.msp_id, signer.cert_pem, signer.key, bytes([n]) * size)
            peer.transaction(padded, "history", nonce=bytes([n]) * 24)
            assert _response(peer.receive()).payload == b"AGENCY-B"
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < count * size / 3, f"{kept >> 20} MiB kept after the transactions ended"


def test_a_message_of_a_type_no_peer_sends_is_ignored(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    """Not taken for the end of the connection and of every transaction waiting on it."""
    peer = connect(lambda stub, function, args: stub.get_state("k") or b"-")
    peer.handshake()
    tx_id = peer.transaction(signer, "history")
    assert peer.receive().type == M.GET_STATE
    peer.send(M(type=99, txid=tx_id, channel_id="referrals"))
    peer.send(M(type=M.RESPONSE, payload=b"v", txid=tx_id, channel_id="referrals"))
    assert _response(peer.receive()).payload == b"v"


def test_a_transaction_already_running_is_refused_and_leaves_the_first_to_finish(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    """The same transaction ID sent again while the first waits for the peer: the first's
    answers must not go to the second, nor the first be dropped unfinished."""
    peer = connect(lambda stub, function, args: b"seen " + (stub.get_state("k") or b"-"))
    peer.handshake()
    tx_id = peer.transaction(signer, "history")
    asked = peer.receive()
    assert asked.type == M.GET_STATE
    assert peer.transaction(signer, "history") == tx_id
    refused = peer.receive()
    assert (refused.type, refused.txid) == (M.ERROR, tx_id)
    assert b"already running" in refused.payload
    peer.answer(asked, b"v")
    done = peer.receive()
    assert (done.txid, _response(done).payload) == (tx_id, b"seen v")
