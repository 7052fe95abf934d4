"""`ledger-gw serve` killed outright (SIGKILL) in its parts while 16 clients each send one
event at a time: the master, one worker, the appending process. Every event answered 2xx
is in the ledger afterwards, the ledger verifies, every other answer is a stable
problem, and nothing of a killed server lives on.

Two appending processes may write one ledger (a second server on the same directory, an
orphaned appender beside its successor): each appends on the head it reads under the
write lock, so they make one linear log, which the last test shows."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

import pytest
import requests
from conftest import serving
from e2e_server import Server
from sqlalchemy import select

from ledger_gw.embedded.database import reading_engine
from ledger_gw.embedded.schema import log
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.gunicorn import gunicorn

pytestmark = pytest.mark.slow
CLIENTS = 16
WRITERS = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
UNAVAILABLE = (503, "application/problem+json", "ledger_unavailable")


class Load:
    """CLIENTS threads, each posting one new event at a time on a kept-alive connection
    until stopped, spread over `urls`; it keeps each acknowledged event's transaction ID,
    what every refusal said, and how many requests lost their connection unanswered."""

    def __init__(self, server: Server, urls: list[str] | None = None) -> None:
        self._server = server
        self._urls = urls or [server.url]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(i,)) for i in range(CLIENTS)]
        self.acked: list[str] = []
        self.refused: Counter[tuple[int, str, str]] = Counter()
        self.cut = 0

    def _client(self, i: int) -> None:
        url = self._urls[i % len(self._urls)] + "/v1/events"
        headers = self._server.headers(WRITERS[i % len(WRITERS)])
        session = requests.Session()
        while not self._stop.is_set():
            try:
                r = session.post(
                    url, headers=headers, json=ev.entitlement_granted(ev.pid()), timeout=30
                )
            except requests.ConnectionError:
                with self._lock:
                    self.cut += 1
                session.close()
                session = requests.Session()
                time.sleep(0.05)
                continue
            with self._lock:
                if r.status_code == 201:
                    self.acked.append(r.json()["tx_id"])
                else:
                    problem = r.json() if r.headers.get("Content-Type", "").endswith("json") else {}
                    kind = r.headers.get("Content-Type", "")
                    self.refused[r.status_code, kind, str(problem.get("code"))] += 1
            if r.status_code == 503:
                time.sleep(0.05)  # as a client would before trying again
        session.close()

    def wait_for(self, acked: int, timeout: float = 20.0) -> None:
        """Until `acked` more events than now are acknowledged."""
        target = len(self.acked) + acked
        deadline = time.monotonic() + timeout
        while len(self.acked) < target:
            assert time.monotonic() < deadline, (len(self.acked), self.refused)
            time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def _processes(directory: Path) -> dict[int, tuple[int, bool]]:
    """The live processes serving `directory`: pid -> (parent's pid, is the appender)."""
    mark = b"\0--dir\0" + bytes(directory) + b"\0"
    found: dict[int, tuple[int, bool]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if mark in cmdline and state != "Z":  # a zombie has exited
            found[int(entry.name)] = (int(ppid), b"ledger_gw.embedded.appender" in cmdline)
    return found


def _appenders(directory: Path) -> list[int]:
    return [p for p, (_, appender) in _processes(directory).items() if appender]


def _next_appender(directory: Path, killed: int) -> int:
    """The appender the master starts after `killed`, as soon as its process is there."""
    deadline = time.monotonic() + 20
    while not (started := set(_appenders(directory)) - {killed}):
        assert time.monotonic() < deadline, "no appender was started again"
        time.sleep(0.01)
    (pid,) = started
    return pid


def _roles(directory: Path) -> tuple[int, list[int], int]:
    """This test's server on `directory`: its master, workers and appender."""
    procs = _processes(directory)
    (master,) = [p for p, (ppid, _) in procs.items() if ppid == os.getpid()]
    workers = [p for p, (ppid, app) in procs.items() if ppid == master and not app]
    (appender,) = [p for p, (ppid, app) in procs.items() if ppid == master and app]
    return master, sorted(workers), appender


def _gone(directory: Path, timeout: float) -> dict[int, tuple[int, bool]]:
    """What still serves `directory` after `timeout` seconds (nothing, at best)."""
    deadline = time.monotonic() + timeout
    while (left := _processes(directory)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _socket_directory(appender: int) -> Path:
    """Where the master put its appender's socket (the same for every appender it starts)."""
    args = Path(f"/proc/{appender}/cmdline").read_bytes().split(b"\0")
    return Path(os.fsdecode(args[args.index(b"--socket") + 1])).parent


@contextmanager
def _served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on a fresh workspace; whatever outlives its stop is killed, and the
    appender's socket directory, which a master killed outright leaves, removed."""
    directory = sockets = None
    try:
        with serving(tmp_path_factory) as server:
            directory = server.directory
            sockets = _socket_directory(_roles(directory)[2])
            yield server
    finally:
        for pid in _processes(directory) if directory is not None else ():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)


def _durable(directory: Path, load: Load) -> None:
    """Every acknowledged event is in the ledger, which verifies, and nothing more was
    logged than was sent: the acknowledged, and those whose answer was lost or a 503."""
    ws = Workspace.load(directory)
    engine = reading_engine(ws.ledger_url)
    try:
        with engine.connect() as conn:
            logged = {bytes(t).hex() for t in conn.execute(select(log.c.tx_id)).scalars()}
    finally:
        engine.dispose()
    assert len(set(load.acked)) == len(load.acked)
    missing = set(load.acked) - logged
    assert not missing, f"{len(missing)} of {len(load.acked)} acknowledged events are not logged"
    assert verify_ledger(ws.ledger_url, ws.consortium).size == len(logged)
    assert len(logged) <= len(load.acked) + load.cut + sum(load.refused.values())


def _only_unavailable(load: Load) -> None:
    assert set(load.refused) <= {UNAVAILABLE}, load.refused


def test_a_killed_master_leaves_nothing_running_and_serve_starts_again(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with _served(tmp_path_factory) as server:
        master, _, _ = _roles(server.directory)
        with Load(server) as load:
            load.wait_for(100)
            os.kill(master, signal.SIGKILL)
            time.sleep(2)  # the orphans' last answers
        assert _gone(server.directory, 20) == {}, "orphaned processes still serve"
        with gunicorn(server.directory, None, log_name="gunicorn-again.log") as url:
            again = Load(server, [url])
            with again:
                again.wait_for(100)
        _only_unavailable(load)
        _only_unavailable(again)
        load.acked += again.acked
        load.refused += again.refused
        load.cut += again.cut
        _durable(server.directory, load)


def test_a_killed_worker_is_replaced_and_loses_no_acknowledged_event(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with _served(tmp_path_factory) as server:
        _, workers, appender = _roles(server.directory)
        with Load(server) as load:
            load.wait_for(100)
            os.kill(workers[0], signal.SIGKILL)
            deadline = time.monotonic() + 20
            while len(_roles(server.directory)[1]) < len(workers):
                assert time.monotonic() < deadline, "the killed worker was not replaced"
                time.sleep(0.1)
            load.wait_for(100)
        _, now, still = _roles(server.directory)
        assert workers[0] not in now
        assert len(now) == len(workers)
        assert still == appender
        _only_unavailable(load)
        _durable(server.directory, load)


def test_a_killed_appender_means_503_until_it_is_back_and_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with _served(tmp_path_factory) as server:
        _, workers, appender = _roles(server.directory)
        with Load(server) as load:
            load.wait_for(100)
            os.kill(appender, signal.SIGKILL)
            restarted = _next_appender(server.directory, appender)
            before = len(load.acked)
            load.wait_for(100)
        assert _roles(server.directory)[1:] == (workers, restarted)
        assert load.refused[UNAVAILABLE] > 0  # the restart takes a second at least
        _only_unavailable(load)
        assert len(load.acked) >= before + 100
        _durable(server.directory, load)
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200


def test_a_master_killed_while_its_appender_restarts_leaves_no_appender(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The appender stops when its master is gone, also when that happened before it
    had looked whose child it is."""
    with _served(tmp_path_factory) as server:
        master, _, appender = _roles(server.directory)
        os.kill(appender, signal.SIGKILL)
        _next_appender(server.directory, appender)
        os.kill(master, signal.SIGKILL)  # the new appender is still starting
        assert _gone(server.directory, 15) == {}, "an orphaned appender lives on"


def test_two_servers_on_one_directory_append_one_verifiable_log(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two appending processes on one ledger, each under load: one linear log."""
    with _served(tmp_path_factory) as server:
        with gunicorn(server.directory, None, log_name="gunicorn-twin.log") as twin:
            assert len(_appenders(server.directory)) == 2
            with Load(server, [server.url, twin]) as load:
                load.wait_for(400)
        assert not load.refused
        assert not load.cut
        _durable(server.directory, load)
