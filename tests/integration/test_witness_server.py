"""A witness process over HTTP, against a real embedded ledger and a fork of it.

The witness runs as its own process (`python -m ledger_gw.cli.witness serve`), with its
key and memory in its own directory; the ledger is the embedded one, signing a
checkpoint after every commit. The fork is a copy of the ledger's database taken at
an earlier size and extended with another history, under the same log key.
"""

from __future__ import annotations

import base64
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from ledger_gw.cli.witness import witness as witness_group
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.errors import ConfigError
from ledger_gw.log.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger_gw.log.note import Note, NoteVerifier, generate_signer
from ledger_gw.witness import (
    Reason,
    RefusedError,
    SizeConflictError,
    TrustedLog,
    attach,
    request_cosignature,
)
from ledger_gw.witness.protocol import AddCheckpoint
from ledger_gw.witness.server import MAX_CONNECTIONS, MAX_PER_ADDRESS
from ledger_gw.workspace import Workspace
from tests.support.events import independent
from tests.support.ledgers import MakeClient, MakeLedger
from tests.support.witnesses import trickling

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ORG = "AGENCY-C"
READ_TIMEOUT_S = 1.0
START_TIMEOUT_S = 30.0


def _witness_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ledger_gw.cli.witness", *args]


@dataclass
class WitnessProcess:
    """A witness serving the workspace's log from its own directory."""

    home: Path
    consortium: Path
    log_path: Path
    vkey: str = ""
    url: str = ""
    proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                _witness_cli(
                    "serve",
                    *("--org", ORG, "--dir", str(self.home), "--port", "0"),
                    *("--consortium", str(self.consortium)),
                    *("--read-timeout", str(READ_TIMEOUT_S)),
                ),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("witness "), f"witness did not start: {self.log_path.read_text()}"
        _, self.vkey, _, self.url = line.split()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def post(self, body: bytes) -> requests.Response:
        return requests.post(f"{self.url}/add-checkpoint", data=body, timeout=10)


@pytest.fixture(scope="module")
def witness_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`witness init` once: the key file and the vkey it printed."""
    home = tmp_path_factory.mktemp("witness-init") / "home"
    made = subprocess.run(
        _witness_cli("init", "--org", ORG, "--dir", str(home)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=START_TIMEOUT_S,
    )
    return home / "witness.key", made.stdout.strip()


@pytest.fixture
def witness(
    tmp_path: Path, workspace: Workspace, witness_key: tuple[Path, str]
) -> Iterator[WitnessProcess]:
    """A witness with that key and the empty memory `witness init` made with it."""
    home = tmp_path / "witness-home"
    home.mkdir()
    shutil.copy(witness_key[0], home / "witness.key")
    shutil.copy(witness_key[0].with_name("witness.db"), home / "witness.db")
    served = WitnessProcess(home, workspace.root / "consortium.json", tmp_path / "witness.log")
    served.start()
    assert served.vkey == witness_key[1]
    yield served
    served.kill()


@pytest.fixture
def trusted(workspace: Workspace) -> TrustedLog:
    return TrustedLog.from_vkey(workspace.consortium.origin, workspace.consortium.log_vkey)


def grow(ledger: EmbeddedLedger, make_client: MakeClient, n: int) -> int:
    """Commit n events one by one (a checkpoint each); the new size."""
    org = make_client(ledger, "AGENCY-A")
    for i in range(n):
        org.submit(independent(i))
    return ledger.log.size()


def fork_of(ledger_url: str, tmp_path: Path, make_ledger: MakeLedger) -> EmbeddedLedger:
    """Another ledger on a consistent copy of `ledger_url`'s database as it is now."""
    copy = tmp_path / "fork.db"
    with (
        sqlite3.connect(ledger_url.removeprefix("sqlite:///")) as source,
        sqlite3.connect(copy) as target,
    ):
        source.backup(target)
    source.close()
    target.close()
    return make_ledger(f"sqlite:///{copy}")


def push(witness: WitnessProcess, ledger: EmbeddedLedger, old: int, size: int) -> str:
    answer = request_cosignature(
        witness.url, ledger.log.checkpoint(size), old, ledger.log.consistency_proof
    )
    return answer.cosignature


def body(ledger: EmbeddedLedger, old: int, size: int) -> bytes:
    proof = ledger.log.consistency_proof(old, size) if 0 < old < size else []
    return AddCheckpoint.build(old, proof, ledger.log.checkpoint(size)).body()


def test_a_forked_log_gets_no_cosignature_and_the_real_one_goes_on(
    witness: WitnessProcess,
    trusted: TrustedLog,
    ledger: EmbeddedLedger,
    ledger_url: str,
    make_ledger: MakeLedger,
    client: MakeClient,
    tmp_path: Path,
) -> None:
    assert grow(ledger, client, 4) == 4
    fork = fork_of(ledger_url, tmp_path, make_ledger)
    assert fork.log.size() == 4
    assert grow(ledger, client, 4) == 8
    cosignature = push(witness, ledger, 0, 8)
    cosigned = attach(ledger.log.checkpoint(8), cosignature, trusted, _vkey(witness))
    opened = open_checkpoint(cosigned, trusted.verifier, [_vkey(witness)], 1)
    assert opened.checkpoint.size == 8

    # The fork: same log key, same first 4 entries, another history after them.
    assert grow(fork, client, 7) == 11
    assert fork.log.checkpoint(8) != ledger.log.checkpoint(8)
    with pytest.raises(RefusedError) as caught:
        push(witness, fork, 8, 11)  # the fork's own proof from its own size 8
    assert caught.value.reason is Reason.BAD_PROOF
    assert witness.post(body(fork, 8, 11)).status_code == 422
    with pytest.raises(RefusedError) as caught:
        push(witness, fork, 0, 11)  # 409 names size 8; from there the proof fails
    assert caught.value.reason is Reason.BAD_PROOF
    same_size = witness.post(body(fork, 8, 8))  # a split view at the size cosigned
    assert same_size.status_code == 409
    assert same_size.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(RefusedError) as caught:
        push(witness, fork, 8, 8)
    assert caught.value.reason is Reason.FORK

    # The real history's next checkpoint is still cosigned, from the size it remembers.
    assert grow(ledger, client, 3) == 11
    cosignature = push(witness, ledger, 0, 11)  # a 409 first, then from 8
    cosigned = attach(ledger.log.checkpoint(11), cosignature, trusted, _vkey(witness))
    assert open_checkpoint(cosigned, trusted.verifier, [_vkey(witness)], 1).checkpoint.size == 11
    with pytest.raises(RefusedError):
        push(witness, fork, 11, 11)  # the fork at the size the real log now has


def test_an_older_checkpoint_after_a_newer_one_is_refused(
    witness: WitnessProcess, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    grow(ledger, client, 6)
    push(witness, ledger, 0, 6)
    assert witness.post(body(ledger, 6, 3)).status_code == 400
    conflict = witness.post(body(ledger, 3, 3))
    assert conflict.status_code == 409
    assert conflict.headers["Content-Type"] == "text/x.tlog.size"
    assert conflict.content == b"6\n"
    with pytest.raises(SizeConflictError) as caught:
        push(witness, ledger, 0, 3)  # the witness is ahead: no retry can help
    assert caught.value.size == 6


def test_a_checkpoint_signed_by_another_key_or_for_another_log_is_refused(
    witness: WitnessProcess, workspace: Workspace, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    grow(ledger, client, 2)
    real = Checkpoint.parse(Note.parse(ledger.log.checkpoint(2)).text)
    log_name = NoteVerifier.from_vkey(workspace.consortium.log_vkey).name
    impostor = generate_signer(log_name)[0]
    forged = sign_checkpoint(real, impostor)
    assert witness.post(AddCheckpoint.build(0, [], forged).body()).status_code == 403
    elsewhere = sign_checkpoint(Checkpoint("example.org/other", 2, real.root_hash), impostor)
    assert witness.post(AddCheckpoint.build(0, [], elsewhere).body()).status_code == 404
    # Nothing was remembered: the real checkpoint is still cosigned from size 0.
    assert witness.post(body(ledger, 0, 2)).status_code == 200


def test_the_same_checkpoint_twice_is_cosigned_again_or_a_clear_conflict(
    witness: WitnessProcess, trusted: TrustedLog, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    grow(ledger, client, 5)
    first = witness.post(body(ledger, 0, 5))
    assert first.status_code == 200
    again = witness.post(body(ledger, 5, 5))
    assert again.status_code == 200
    attach(ledger.log.checkpoint(5), again.text, trusted, _vkey(witness))
    replay = witness.post(body(ledger, 0, 5))
    assert (replay.status_code, replay.content) == (409, b"5\n")


def test_malformed_oversized_and_wrong_method_requests(
    witness: WitnessProcess, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    grow(ledger, client, 3)
    good = body(ledger, 0, 3)
    assert witness.post(good.replace(b"old 0", b"old 00")).status_code == 400
    assert witness.post(b"old 0\n\nnot a note").status_code == 400
    assert witness.post(b"\xff" * 10).status_code == 400
    signature = base64.b64encode(bytes(68)).decode()  # a key ID and 64 bytes: it parses
    note = f"o\n{'9' * 5000}\n{base64.b64encode(bytes(32)).decode()}\n\n\u2014 o {signature}\n"
    assert witness.post(f"old 0\n\n{note}".encode()).status_code == 400  # no int() of it
    assert witness.post(good + b"x" * (64 * 1024)).status_code == 413
    assert requests.get(f"{witness.url}/add-checkpoint", timeout=10).status_code == 405
    assert witness.post(good).status_code == 200


def test_a_request_that_never_finishes_does_not_stop_the_witness(
    witness: WitnessProcess, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    grow(ledger, client, 3)
    host, port = witness.url.removeprefix("http://").split(":")
    stalled_body = socket.create_connection((host, int(port)), timeout=10)
    stalled_headers = socket.create_connection((host, int(port)), timeout=10)
    try:
        stalled_body.sendall(
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 1000\r\n\r\nold 0\n"
        )
        stalled_headers.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\n")
        started = time.monotonic()
        assert witness.post(body(ledger, 0, 3)).status_code == 200
        assert time.monotonic() - started < READ_TIMEOUT_S
        # The stalled connections are dropped once they stay silent for the read timeout.
        for stalled in (stalled_body, stalled_headers):
            answer = stalled.recv(4096)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 5 * READ_TIMEOUT_S
    finally:
        stalled_body.close()
        stalled_headers.close()


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("\nThreads:", 1)[1].split()[0])


def test_many_connections_from_one_address_start_no_more_threads_than_its_share(
    witness: WitnessProcess, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    """Each open connection would hold a thread for as long as it sends a byte now and
    then; past its share an address's connections are closed unread."""
    grow(ledger, client, 3)
    assert witness.proc is not None
    host, port = witness.url.removeprefix("http://").split(":")
    before = _threads(witness.proc.pid)
    held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(40)]
    try:
        for conn in held:
            conn.sendall(b"POST /add-checkpoint HTTP/1.1\r\n")
        time.sleep(0.2)  # well within the read timeout: every one is still open or refused
        assert _threads(witness.proc.pid) <= before + MAX_PER_ADDRESS
    finally:
        for conn in held:
            conn.close()
    # The witness sees the closes only when it next reads each one; until then a new
    # connection may still be past the share and closed unread, so it is tried again.
    deadline = time.monotonic() + 5 * READ_TIMEOUT_S
    while True:
        try:
            answer = witness.post(body(ledger, 0, 3))
        except requests.ConnectionError as closed_unread:
            seen = repr(closed_unread)
        else:
            if answer.status_code == 200:
                break
            seen = answer.text
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)


def _closed_by_peer(conn: socket.socket) -> bool:
    conn.setblocking(False)
    try:
        return conn.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_connections_that_trickle_from_many_addresses_cannot_keep_the_log_out(
    witness: WitnessProcess, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    """Eight addresses (loopback has them all), each at its share, hold every slot with
    requests that never end, a byte at a time within the read timeout. The log's push
    is still served: the oldest trickling connection is closed to make room for it."""
    grow(ledger, client, 3)
    assert witness.proc is not None
    host, port = witness.url.removeprefix("http://").split(":")
    before = _threads(witness.proc.pid)
    held: list[socket.socket] = []
    for n in range(MAX_CONNECTIONS // MAX_PER_ADDRESS):
        for _ in range(MAX_PER_ADDRESS):
            source = (f"127.0.0.{n + 2}", 0)
            conn = socket.create_connection((host, int(port)), timeout=10, source_address=source)
            conn.sendall(b"POST /add-checkpoint HTTP/1.1\r\nX-Slow: ")
            held.append(conn)
    try:
        with trickling(held, READ_TIMEOUT_S / 4):
            time.sleep(READ_TIMEOUT_S * 1.5)  # past the read timeout: trickling keeps them
            assert _threads(witness.proc.pid) <= before + MAX_CONNECTIONS + 1
            assert not any(_closed_by_peer(c) for c in held[-MAX_PER_ADDRESS:])
            assert witness.post(body(ledger, 0, 3)).status_code == 200
            assert _closed_by_peer(held[0])  # the oldest made room
            assert not _closed_by_peer(held[-1])
    finally:
        for conn in held:
            conn.close()


def test_a_flood_from_many_addresses_closes_their_connections_not_a_push_in_progress(
    witness: WitnessProcess, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    """Every slot held, four connections from each of 32 addresses; a push sends its
    head; then 192 connections from 16 more addresses, each below its share. Each closes
    one of an address holding most, never the push, which then sends its body (closing
    the oldest instead would close it after the first 128)."""
    grow(ledger, client, 3)
    host, port = witness.url.removeprefix("http://").split(":")
    held: list[socket.socket] = []

    def connect(source: str) -> socket.socket:
        conn = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
        held.append(conn)
        return conn

    try:
        for n in range(MAX_CONNECTIONS // 4):
            for _ in range(4):
                connect(f"127.0.2.{n + 1}").sendall(b"POST /add-checkpoint HTTP/1.1\r\nX-Slow: ")
        data = body(ledger, 0, 3)
        push = connect("127.0.3.1")
        push.sendall(
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Type: text/plain\r\n"
            + f"Content-Length: {len(data)}\r\nX-Wait: ".encode()
        )
        with trickling(held, READ_TIMEOUT_S / 4):
            for n in range(192):
                flood = connect(f"127.0.4.{n % 16 + 1}")
                flood.sendall(b"POST /add-checkpoint HTTP/1.1\r\nX-Slow: ")
        push.sendall(b"\r\n\r\n" + data)
        push.settimeout(10)
        answer = push.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    finally:
        for conn in held:
            conn.close()


def test_concurrent_pushes_from_one_size_advance_it_once(
    witness: WitnessProcess, ledger: EmbeddedLedger, client: MakeClient
) -> None:
    grow(ledger, client, 12)
    assert witness.post(body(ledger, 0, 4)).status_code == 200
    bodies = [body(ledger, 4, size) for size in range(5, 13)]
    statuses: list[int] = []
    gate = threading.Barrier(len(bodies))

    def send(data: bytes) -> None:
        gate.wait()
        statuses.append(witness.post(data).status_code)

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * (len(bodies) - 1)


def test_the_witness_remembers_across_a_kill(
    witness: WitnessProcess,
    ledger: EmbeddedLedger,
    ledger_url: str,
    make_ledger: MakeLedger,
    client: MakeClient,
    tmp_path: Path,
) -> None:
    grow(ledger, client, 2)
    fork = fork_of(ledger_url, tmp_path, make_ledger)
    grow(ledger, client, 3)
    push(witness, ledger, 0, 5)
    witness.kill()
    witness.start()
    grow(fork, client, 6)
    assert witness.post(body(fork, 0, 8)).content == b"5\n"
    assert witness.post(body(fork, 5, 8)).status_code == 422
    assert not (tmp_path / "ledger.db").with_name("witness.db").exists()
    assert (witness.home / "witness.db").exists()


def _vkey(witness: WitnessProcess) -> NoteVerifier:
    return NoteVerifier.from_vkey(witness.vkey)


def test_init_keeps_the_key_out_of_the_operators_directory(
    workspace: Workspace, tmp_path: Path
) -> None:
    runner = CliRunner()
    refused = runner.invoke(witness_group, ["init", "--org", ORG, "--dir", str(workspace.root)])
    assert isinstance(refused.exception, ConfigError)
    assert "log operator's directory" in str(refused.exception)
    assert not (workspace.root / "witness.key").exists()
    home = tmp_path / "home"
    made = runner.invoke(witness_group, ["init", "--org", ORG, "--dir", str(home)])
    assert made.exit_code == 0, made.output
    assert made.output.startswith("witness.agency-c+")
    assert NoteVerifier.from_vkey(made.output.strip()).sig_type == 0x04
    assert (home / "witness.key").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(witness_group, ["init", "--org", ORG, "--dir", str(home)])
    assert isinstance(again.exception, ConfigError)
    serve_both = runner.invoke(
        witness_group,
        [
            *("serve", "--org", ORG, "--dir", str(home), "--origin", "o"),
            *("--consortium", str(workspace.root / "consortium.json")),
        ],
    )
    assert serve_both.exit_code == 2
    assert "--consortium replaces" in serve_both.output
    other_org = runner.invoke(
        witness_group, ["serve", "--org", "AGENCY-A", "--dir", str(home), "--origin", "o"]
    )
    assert isinstance(other_org.exception, ConfigError)
