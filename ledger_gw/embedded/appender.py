"""One appending process for an embedded ledger that several processes serve.

SQLite admits one writer at a time. When gunicorn's workers each append, they take
turns at the write lock, every turn empties the other's page cache, and each
worker's writer thread shares its GIL with request handling. One appending process
keeps its cache warm, the tree head in memory and a GIL of its own: workers hand it
signed transactions over a local socket and read the ledger directly (WAL readers
never wait for the writer).

Workers admit transactions themselves (signature, certificate, role, clock) and send
the appender the signed bytes and the identity they established; the calls a serving
process's threads make while one is being handed over go together next, in one round
trip (ledger_gw.grouping). The appender runs the contract on each in log order. It
trusts whoever holds the socket's key: only the gateway's own processes do, and they
hold the organisations' signing keys anyway. Every entry still carries its signature,
and verification replays every entry. Being the one that appends, it also pushes each
new checkpoint to the consortium's witnesses (embedded.witnessing).

    printf '%s\n%s\n' "$KEY_HEX" "$LEDGER_URL" |
        python -m ledger_gw.embedded.appender --socket /run/ledger/append.sock --dir var/demo

reads the socket's key (hex), then the ledger's SQLAlchemy URL (which may hold a
database password), from its standard input, where `ps` does not show them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import pickle
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import (
    Client,
    Connection,
    Listener,
    answer_challenge,
    deliver_challenge,
)
from pathlib import Path
from typing import Any

import orjson

from chaincode.stub import ROLES, Identity
from ledger_gw.embedded.ledger import EmbeddedLedger, Verdict
from ledger_gw.embedded.witnessing import endpoints as witness_endpoints
from ledger_gw.errors import ConfigError, LedgerError, UnavailableError, of_kind
from ledger_gw.interfaces import Outcome
from ledger_gw.transaction import Proposal, SignedTransaction

_log = logging.getLogger(__name__)
_RESTART_DELAY = 1.0  # seconds before an appender that died is started again
_BACKLOG = 64  # connections queued for accept(): every thread of every worker may reconnect
#: The longest request the appender reads. The most one call to the gateway hands over,
#: 1,000 events (LEDGER_GW_MAX_BATCH's default) each of the contract's 4 KiB, signed,
#: with its certificate, and pickled, is about 10 MiB: it fits three times over. Calls
#: grouped past it, or a larger batch, go over in turn (RemoteAppender.append). A longer
#: length announced is refused before anything is allocated for it, that connection closed.
MAX_FRAME = 32 << 20


# The wire: pickled tuples of plain values (bytes, str, int, None, lists, tuples). Peers
# hold the socket's key; even so, unpickling refuses every class, so nothing but plain
# values can be read from it.
Plain = Any
_Error = tuple[str, str, str, str | None]


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name} may not cross the appender's socket")


def _dumps(value: Plain) -> bytes:
    return pickle.dumps(value, protocol=5)


def _loads(data: bytes) -> Plain:
    return _PlainUnpickler(io.BytesIO(data)).load()


def _admitted_wire(verdict: Verdict) -> Plain:
    tx, identity = verdict.tx, verdict.identity
    assert identity is not None
    p = tx.proposal
    proposal = (p.payload, p.creator, p.nonce, p.timestamp, p.function, list(p.args), p.tx_id)
    return (proposal, tx.signature, identity.org_id, identity.role)


def _admitted(item: Plain) -> Verdict:
    """Raises ValueError or TypeError for anything `_admitted_wire` would not write.

    The proposal comes as its signed bytes and the fields they encode, so that the
    appender need not decode them again: a peer that holds the socket's key is one of
    the gateway's own processes, trusted with the signing keys anyway.
    """
    proposal, signature, org_id, role = item
    if role not in ROLES or type(org_id) is not str or type(signature) is not bytes:
        raise ValueError("malformed identity or signature")
    return Verdict(SignedTransaction(_proposal(proposal), signature), Identity(org_id, role))


def _proposal(item: Plain) -> Proposal:
    payload, creator, nonce, timestamp, function, args, tx_id = item
    if type(payload) is not bytes or type(args) is not list:
        raise TypeError("malformed proposal")
    if any(type(v) is not str for v in (creator, nonce, timestamp, function, tx_id)):
        raise TypeError("malformed proposal")
    proposal = Proposal(creator, nonce, timestamp, function, tuple(args))
    vars(proposal).update(payload=payload, tx_id=tx_id)  # its cached properties, known
    return proposal


def _error_wire(error: LedgerError) -> _Error:
    return (error.kind, error.code, str(error), error.field)


def _error(item: Plain) -> LedgerError:
    kind, code, message, field = item
    return of_kind(str(kind), str(message), code=str(code), field=field)


def _verdict_wire(verdict: Verdict) -> Plain:
    error = None if verdict.error is None else _error_wire(verdict.error)
    return (verdict.tx.tx_id, verdict.result, verdict.position, error)


def _outcome(item: Plain) -> Outcome:
    tx_id, result, position, error = item
    return Outcome(
        tx_id,
        None if result is None else orjson.loads(result),
        None if error is None else _error(error),
        position,
    )


class AppendServer:
    """Accepts connections from the serving processes; one thread per connection.

    The key challenge is made in the connection's thread: made in accept(), as
    multiprocessing's Listener makes it, one client that never answers would stop every
    other from connecting, and a queue of them the server from stopping."""

    def __init__(self, ledger: EmbeddedLedger, address: str, authkey: bytes) -> None:
        self.ledger = ledger
        self._listener = Listener(address, family="AF_UNIX", backlog=_BACKLOG)
        self._authkey = authkey
        self.address = address
        self._stopping = False

    def serve_forever(self) -> None:
        while not self._stopping:
            try:
                conn = self._listener.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            try:
                deliver_challenge(conn, self._authkey)
                answer_challenge(conn, self._authkey)
            except (AuthenticationError, EOFError, OSError):
                if not self._stopping:  # stop()'s wake-up answers nothing
                    _log.warning("refused a connection to the appender", exc_info=True)
                return
            while True:
                try:
                    request = conn.recv_bytes(MAX_FRAME)
                except (EOFError, OSError):
                    if not conn.readable:  # what recv_bytes does to a frame over the bound
                        _log.warning(
                            "a request to the appender was longer than %d bytes: connection closed",
                            MAX_FRAME,
                        )
                    return
                try:
                    verdicts = [_admitted(item) for item in _loads(request)]
                except (ValueError, TypeError, EOFError, pickle.UnpicklingError) as exc:
                    _log.warning("malformed request to the appender: %s", exc)
                    return
                self.ledger.append_admitted(verdicts)
                conn.send_bytes(_dumps([_verdict_wire(v) for v in verdicts]))

    def stop(self) -> None:
        """From the signal handler too: nothing here waits."""
        self._stopping = True
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as wake:
            wake.setblocking(False)  # a full backlog refuses it rather than waiting
            wake.connect(self.address)  # accept() returns and sees the flag
        self._listener.close()


class RemoteAppender:
    """A serving process's side: one connection per thread, reopened after a failure.

    When the appender is gone for good, a transaction whose answer was lost may or may
    not have been appended: the caller hears "unavailable" and resubmits the event,
    which the contract's event IDs make safe.
    """

    def __init__(self, address: str, authkey: bytes) -> None:
        self.address = address
        self._authkey = authkey
        self._local = threading.local()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = Client(self.address, family="AF_UNIX", authkey=self._authkey)
        return conn

    def append(self, admitted: Sequence[Verdict]) -> list[Outcome]:
        request = _dumps([_admitted_wire(v) for v in admitted])
        if len(request) > MAX_FRAME and len(admitted) > 1:  # many calls grouped: in turn
            half = len(admitted) // 2
            return self.append(admitted[:half]) + self.append(admitted[half:])
        for attempt in range(2):
            try:
                conn = self._connection()
                conn.send_bytes(request)
                reply = conn.recv_bytes()
                answer = _loads(reply)
                break
            except (OSError, EOFError, AuthenticationError) as exc:
                # Once more on a new connection: this thread's may predate a restart. The
                # same signed transactions again are safe: the ledger knows their IDs.
                self.close()
                if attempt:
                    raise UnavailableError(f"the ledger's appender is unreachable: {exc}") from exc
        if len(answer) != len(admitted):
            self.close()
            raise UnavailableError("the ledger's appender answered out of turn")
        return [_outcome(item) for item in answer]

    def close(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()


class AppenderProcess:
    """Runs the appender beside gunicorn's workers and starts it again if it dies.

    The socket lives in a directory of its own that only its owner can enter, and the
    key is fresh for every start of the server.
    """

    def __init__(self, directory: Path, ledger_url: str) -> None:
        self._args = ["--dir", str(directory)]
        self._ledger_url = ledger_url  # on standard input: it may hold a password
        self._dir = tempfile.mkdtemp(prefix="ledger-appender-")  # mode 0700
        self.socket = os.path.join(self._dir, "append.sock")
        self.key = secrets.token_bytes(32)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 60.0) -> None:
        self._spawn(timeout)
        self._watcher = threading.Thread(target=self._watch, name="appender-watch", daemon=True)
        self._watcher.start()

    def _spawn(self, timeout: float) -> None:
        with contextlib.suppress(FileNotFoundError):  # left by an appender that was killed
            os.unlink(self.socket)
        command = [sys.executable, "-m", "ledger_gw.embedded.appender", "--socket", self.socket]
        command += ["--parent", str(os.getpid())]
        self._proc = subprocess.Popen([*command, *self._args], stdin=subprocess.PIPE)
        assert self._proc.stdin is not None
        with self._proc.stdin as key_pipe:
            key_pipe.write(self.key.hex().encode() + b"\n" + self._ledger_url.encode() + b"\n")
        if self._stopping.is_set():  # stop() came while this one was starting
            self._proc.terminate()
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise UnavailableError("the ledger's appender exited on start")
            try:
                Client(self.socket, family="AF_UNIX", authkey=self.key).close()
                return
            except OSError:
                time.sleep(0.05)
        raise UnavailableError("the ledger's appender did not start")

    def _watch(self) -> None:
        while not self._stopping.is_set():
            assert self._proc is not None
            code = self._proc.wait()
            if self._stopping.is_set():
                return
            _log.error("the ledger's appender exited with %s; starting it again", code)
            time.sleep(_RESTART_DELAY)
            try:
                self._spawn(timeout=60.0)
            except UnavailableError:
                _log.exception("the ledger's appender could not be started")
                time.sleep(_RESTART_DELAY)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: the appender commits what it has queued, then exits."""
        self._stopping.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


def _stop_when_orphaned(server: AppendServer, parent: int) -> None:
    """A master killed outright cannot stop its appender: it stops on its own. The master
    names itself: one killed while this process was starting is no longer its parent
    when it first looks, and the parent it would find instead (init) never ends."""
    while os.getppid() == parent:
        time.sleep(1.0)
    server.stop()


def _read_key(text: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError("the appender's key on standard input must be hex") from None


def main(argv: Sequence[str] | None = None) -> None:
    from ledger_gw.workspace import Workspace

    parser = argparse.ArgumentParser(description="the embedded ledger's appending process")
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    parser.add_argument("--dir", required=True, type=Path, help="the consortium directory")
    parser.add_argument(
        "--parent", type=int, help="the process whose end stops this one (default: its parent)"
    )
    args = parser.parse_args(argv)
    parent = os.getppid() if args.parent is None else args.parent
    logging.basicConfig(level=logging.INFO, format="appender %(levelname)s %(message)s")
    authkey = _read_key(sys.stdin.readline())
    ledger_url = sys.stdin.readline().strip()
    if not ledger_url:
        raise ConfigError("the ledger's URL must follow the key on standard input")
    ws = Workspace.load(args.dir)
    ledger = EmbeddedLedger(
        ledger_url,
        ws.consortium,
        ws.log_signer(),
        witnesses=witness_endpoints(ws.consortium),
        consortium_file=ws.consortium_file,
    )
    ledger.resume_witnessing()
    old_umask = os.umask(0o177)  # the socket: its owner only
    try:
        server = AppendServer(ledger, args.socket, authkey)
    finally:
        os.umask(old_umask)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    threading.Thread(target=_stop_when_orphaned, args=(server, parent), daemon=True).start()
    try:
        server.serve_forever()
    finally:
        ledger.close()  # lets queued transactions commit first


if __name__ == "__main__":
    main()
