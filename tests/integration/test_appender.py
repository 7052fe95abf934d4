"""The appending process: serving processes hand it signed transactions over a socket.

Real sockets, real signatures and real SQLite files; the supervised appender is a real
child process, killed with SIGKILL to see it come back.
"""

from __future__ import annotations

import datetime
import logging
import os
import pickle
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Client
from pathlib import Path

import pytest

from chaincode.canonical import canonical_json
from chaincode.schemas import MAX_EVENT_BYTES
from chaincode.stub import Identity
from ledger_gw.client import OrgClient
from ledger_gw.embedded import appender
from ledger_gw.embedded.appender import (
    AppenderProcess,
    AppendServer,
    RemoteAppender,
    _admitted_wire,
    _loads,
)
from ledger_gw.embedded.ledger import EmbeddedLedger, Verdict
from ledger_gw.errors import RejectedError, UnavailableError
from ledger_gw.interfaces import Outcome
from ledger_gw.services.config import GatewayConfig
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeLedger, Verify

KEY = b"k" * 32


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "append.sock")


@pytest.fixture
def server(make_ledger: MakeLedger, socket_path: str) -> Iterator[AppendServer]:
    served = AppendServer(make_ledger(), socket_path, KEY)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.stop()
    thread.join(5)


@pytest.fixture
def remote(make_ledger: MakeLedger, socket_path: str) -> EmbeddedLedger:
    """A serving process's ledger: reads the file, appends through the socket."""
    return make_ledger(appender=RemoteAppender(socket_path, KEY))


def test_events_are_appended_by_the_appender_and_read_locally(
    server: AppendServer, remote: EmbeddedLedger, workspace: Workspace, verify: Verify
) -> None:
    story = ev.story()
    positions = []
    for org, event in story:
        outcome = OrgClient(remote, workspace.signer(org)).submit_many([event])[0]
        assert outcome.error is None, outcome.error
        assert outcome.result is not None
        assert outcome.result["event_id"] == event["event_id"]
        positions.append(outcome.position)
    assert positions == list(range(len(story)))
    assert remote.size() == server.ledger.size() == len(story)
    assert verify(str(server.ledger.engine.url)).size == len(story)


class CountingAppender(RemoteAppender):
    """Counts round trips, each held a little so that callers arrive while one is out."""

    def __init__(self, address: str, authkey: bytes) -> None:
        super().__init__(address, authkey)
        self.round_trips: list[int] = []

    def append(self, admitted: Sequence[Verdict]) -> list[Outcome]:
        self.round_trips.append(len(admitted))
        time.sleep(0.02)
        return super().append(admitted)


def test_concurrent_single_submissions_share_round_trips_and_each_gets_its_own_outcome(
    server: AppendServer,
    make_ledger: MakeLedger,
    socket_path: str,
    workspace: Workspace,
    verify: Verify,
) -> None:
    counting = CountingAppender(socket_path, KEY)
    remote = make_ledger(appender=counting)
    agency = OrgClient(remote, workspace.signer("AGENCY-A"))
    grants = [ev.entitlement_granted(ev.pid()) for _ in range(24)]
    duplicate = grants[0]
    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(lambda e: agency.submit_many([e])[0], [*grants, duplicate]))
    assert all(o.error is None for o in outcomes)
    for grant, outcome in zip([*grants, duplicate], outcomes, strict=True):
        assert outcome.result is not None
        assert outcome.result["entitlement_id"] == grant["entitlement_id"]
    # The same event sent twice at once is appended once; the other hears its result.
    positions = [o.position for o in outcomes if o.position is not None]
    assert sorted(positions) == list(range(len(grants)))
    assert outcomes[0].result == outcomes[-1].result
    assert sum(counting.round_trips) == len(grants) + 1
    assert len(counting.round_trips) < len(grants) / 2, counting.round_trips
    assert max(counting.round_trips) > 1
    assert verify(str(server.ledger.engine.url)).size == len(grants)


def test_rejections_and_replays_cross_the_socket_unchanged(
    server: AppendServer, remote: EmbeddedLedger, workspace: Workspace
) -> None:
    agency_a = OrgClient(remote, workspace.signer("AGENCY-A"))
    grant = ev.entitlement_granted(ev.pid())
    first = agency_a.submit_many([grant])[0]
    again = agency_a.submit_many([grant])[0]
    assert again.error is None
    assert again.position is None
    assert again.result == first.result
    stranger = OrgClient(remote, workspace.signer("AGENCY-C"))
    refused = stranger.submit_many([ev.delivery(grant["entitlement_id"])])[0]
    assert isinstance(refused.error, RejectedError)
    assert (refused.error.kind, refused.error.code) == ("forbidden", "not_granting_org")
    with pytest.raises(RejectedError) as caught:
        agency_a.submit(ev.delivery(ev.uid()))
    assert (caught.value.code, caught.value.field) == ("entitlement_not_found", "entitlement_id")
    assert remote.size() == 1


def test_a_forged_signature_is_refused_before_the_socket(
    server: AppendServer, remote: EmbeddedLedger, workspace: Workspace
) -> None:
    signed = OrgClient(remote, workspace.signer("AGENCY-A")).sign(
        "submit", ev.entitlement_granted(ev.pid())
    )
    forged = type(signed)(signed.proposal, bytes(reversed(signed.signature)))
    outcome = remote.submit_many([forged])[0]
    assert outcome.error is not None
    assert outcome.error.kind == "unauthenticated"
    assert server.ledger.size() == 0


@pytest.mark.parametrize(
    "request_body",
    [
        b"not a pickle",
        pickle.dumps([datetime.date(2026, 1, 1)]),  # a class: refused before it is built
        pickle.dumps([(b"{}", b"sig", "AGENCY-A", "agency")]),  # not a proposal
        pickle.dumps([((b"{}", 1, "n", "t", "f", [], "i"), b"s", "AGENCY-A", "agency")]),
        pickle.dumps([(1, 2)]),
        "unknown role",  # a real proposal with a role the consortium does not know
        "with a result",  # a real one, and a result of the contract for it: never taken
    ],
)
def test_the_appender_drops_a_request_it_cannot_read(
    server: AppendServer, socket_path: str, workspace: Workspace, request_body: bytes | str
) -> None:
    if isinstance(request_body, str):
        signed = OrgClient(server.ledger, workspace.signer("AGENCY-A")).sign(
            "submit", ev.entitlement_granted(ev.pid())
        )
        role = "admin" if request_body == "unknown role" else "agency"
        item = _admitted_wire(Verdict(signed, Identity("AGENCY-A", role)))
        if request_body == "with a result":
            item = (*item, (0, [], [], b'{"forged":true}', None, [(b"k", b"{}")], [], None))
        request_body = pickle.dumps([item])
    with Client(socket_path, family="AF_UNIX", authkey=KEY) as conn:
        conn.send_bytes(request_body)
        with pytest.raises(EOFError):
            conn.recv_bytes()
    assert server.ledger.size() == 0


def test_wrong_key_or_no_appender_means_unavailable(
    server: AppendServer, make_ledger: MakeLedger, socket_path: str, workspace: Workspace
) -> None:
    event = ev.entitlement_granted(ev.pid())
    impostor = make_ledger(appender=RemoteAppender(socket_path, b"x" * 32))
    with pytest.raises(UnavailableError):
        OrgClient(impostor, workspace.signer("AGENCY-A")).submit(event)
    nobody = make_ledger(appender=RemoteAppender(socket_path + ".absent", KEY))
    with pytest.raises(UnavailableError):
        OrgClient(nobody, workspace.signer("AGENCY-A")).submit(event)
    assert server.ledger.size() == 0


def test_the_supervised_appender_comes_back_after_sigkill(
    workspace: Workspace, tmp_path: Path, verify: Verify
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger-s3cret.db'}"  # as a database password would
    process = AppenderProcess(workspace.root, url)
    process.start()
    try:
        assert process.pid is not None  # what `ps` shows every local user: not the URL
        assert b"s3cret" not in Path(f"/proc/{process.pid}/cmdline").read_bytes()
        reader = _served_by(workspace, url, process)
        agency = OrgClient(reader, workspace.signer("AGENCY-A"))
        assert agency.submit(ev.entitlement_granted(ev.pid()))["type"] == "entitlement.granted"
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        appended = None
        while appended is None and time.monotonic() < deadline:
            try:
                appended = agency.submit(ev.entitlement_granted(ev.pid()))
            except UnavailableError:
                time.sleep(0.2)
        assert appended is not None, "the appender did not come back"
        assert reader.size() == 2
        reader.close()
    finally:
        process.stop()
    assert not Path(process.socket).parent.exists()
    assert verify(url).size == 2


def _served_by(workspace: Workspace, url: str, process: AppenderProcess) -> EmbeddedLedger:
    """A serving process's ledger, appending through ``process``."""
    return EmbeddedLedger(
        url,
        workspace.consortium,
        workspace.log_signer(),
        appender=RemoteAppender(process.socket, process.key),
    )


def test_clients_that_never_answer_the_key_challenge_stop_no_one(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Neither the serving processes' next connections nor SIGTERM wait on them."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    process = AppenderProcess(workspace.root, url)
    process.start()
    stuck: list[socket.socket] = []
    try:
        for _ in range(3):
            conn = socket.socket(socket.AF_UNIX)
            conn.connect(process.socket)
            stuck.append(conn)
        reader = _served_by(workspace, url, process)
        agency = OrgClient(reader, workspace.signer("AGENCY-A"))
        answered: list[dict[str, object]] = []
        submit = threading.Thread(
            target=lambda: answered.append(agency.submit(ev.entitlement_granted(ev.pid()))),
            daemon=True,
        )
        submit.start()
        submit.join(30)
        assert answered, "a new connection waited behind the stuck ones"
        reader.close()
        started = time.monotonic()
        process.stop()  # SIGTERM, then SIGKILL after 30 s
        assert time.monotonic() - started < 10
    finally:
        process.stop()
        for conn in stuck:
            conn.close()


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


def test_an_orphaned_appender_stops(workspace: Workspace, tmp_path: Path) -> None:
    """A gunicorn master killed outright cannot stop its appender: it stops on its own."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    parent_script = (
        "import sys, time\n"
        "from ledger_gw.embedded.appender import AppenderProcess\n"
        "p = AppenderProcess(sys.argv[1], sys.argv[2])\n"
        "p.start()\n"
        "print(p.pid, p.socket, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_script, str(workspace.root), url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    pid_text, socket_path = parent.stdout.readline().split()
    appender = int(pid_text)
    assert _running(appender)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 30
    while _running(appender) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(appender)
    shutil.rmtree(Path(socket_path).parent, ignore_errors=True)


# The appender reads no request longer than its bound, whoever holds the socket's key.


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
