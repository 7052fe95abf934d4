"""The appender reads no request longer than its bound, whoever holds the socket's key.

A real appender on its real socket, real signed transactions, real SQLite files.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import threading
from collections.abc import Iterator
from multiprocessing.connection import Client

import pytest

from chaincode.canonical import canonical_json
from chaincode.schemas import MAX_EVENT_BYTES
from chaincode.stub import Identity
from ledger_gw.client import OrgClient
from ledger_gw.embedded import appender
from ledger_gw.embedded.appender import AppendServer, RemoteAppender, _admitted_wire, _loads
from ledger_gw.embedded.ledger import Verdict
from ledger_gw.services.config import GatewayConfig
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeLedger, Verify

KEY = b"k" * 32


@pytest.fixture
def socket_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("appender") / "append.sock")


@pytest.fixture
def server(make_ledger: MakeLedger, socket_path: str) -> Iterator[AppendServer]:
    served = AppendServer(make_ledger(), socket_path, KEY)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.stop()
    thread.join(5)


def _request(workspace: Workspace) -> bytes:
    """One real signed transaction, as a serving process hands it over."""
    signed = sign_proposal(
        workspace.signer("AGENCY-A"), "submit", (ev.entitlement_granted(ev.pid()),)
    )
    return pickle.dumps([_admitted_wire(Verdict(signed, Identity("AGENCY-A", "agency")))])


@pytest.mark.parametrize(
    "header",
    [
        struct.pack("!i", appender.MAX_FRAME + 1),
        struct.pack("!iQ", -1, 1 << 62),  # the long form: any 64-bit length
    ],
    ids=["just over the bound", "2^62 bytes"],
)
def test_a_request_announced_longer_than_the_bound_is_refused_unread(
    server: AppendServer,
    socket_path: str,
    workspace: Workspace,
    header: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A peer that holds the key announces a length and sends nothing more: its
    connection is closed at once, not kept waiting for (and buffering) that much, and
    another connection open all along is served before and after."""
    caplog.set_level(logging.WARNING, logger=appender.__name__)
    with Client(socket_path, family="AF_UNIX", authkey=KEY) as other:
        other.send_bytes(_request(workspace))
        assert len(_loads(other.recv_bytes())) == 1
        with Client(socket_path, family="AF_UNIX", authkey=KEY) as greedy:
            os.write(greedy.fileno(), header)
            assert greedy.poll(5), "the appender kept the connection, reading"
            with pytest.raises(EOFError):
                greedy.recv_bytes()
        other.send_bytes(_request(workspace))
        (outcome,) = _loads(other.recv_bytes())
        assert outcome[2] == 1  # appended, at position 1
    assert server.ledger.size() == 2
    assert f"longer than {appender.MAX_FRAME} bytes" in caplog.text


def test_calls_grouped_past_the_bound_go_over_in_turn(
    server: AppendServer,
    make_ledger: MakeLedger,
    socket_path: str,
    workspace: Workspace,
    verify: Verify,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A serving process's threads' calls go to the appender together, past any one
    request's size: they are split to fit the bound, which the appender holds too."""
    monkeypatch.setattr(appender, "MAX_FRAME", 16 << 10)  # a handful of transactions
    remote = make_ledger(appender=RemoteAppender(socket_path, KEY))
    events = [ev.entitlement_granted(ev.pid()) for _ in range(40)]
    outcomes = OrgClient(remote, workspace.signer("AGENCY-A")).submit_many(events)
    assert [o.position for o in outcomes] == list(range(len(events)))
    assert [o.result["entitlement_id"] for o in outcomes if o.result] == [
        e["entitlement_id"] for e in events
    ]
    assert "longer than" not in caplog.text
    assert verify(str(server.ledger.engine.url)).size == len(events)


def test_the_largest_batch_a_gateway_admits_fits_the_bound_three_times(
    workspace: Workspace,
) -> None:
    """As many events as LEDGER_GW_MAX_BATCH's default lets one request hold, each of the
    contract's largest size, signed and handed over as a serving process does."""
    signer = workspace.signer("AGENCY-A")
    base = ev.entitlement_granted(ev.pid())
    pad = MAX_EVENT_BYTES - len(canonical_json(base))
    items = []
    for i in range(GatewayConfig.max_batch):
        event = {**base, "event_id": f"{i:036d}", "programme": "x" * (pad + 9)}
        assert len(canonical_json(event)) == MAX_EVENT_BYTES
        signed = sign_proposal(signer, "submit", (event,))
        items.append(_admitted_wire(Verdict(signed, Identity("AGENCY-A", "agency"))))
    assert 3 * len(pickle.dumps(items, protocol=5)) <= appender.MAX_FRAME
