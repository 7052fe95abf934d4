"""The contract as Fabric chaincode: a chaincode-as-a-service server on the official protos.

The peer dials this server (the address in the package's connection.json) and opens the
bidirectional `protos.Chaincode/Connect` stream. The chaincode speaks first (REGISTER
with its package ID); the peer answers REGISTERED and READY, then sends TRANSACTION (or
INIT) messages. While a transaction runs, each stub call is a request on the same stream
(GET_STATE, PUT_STATE, GET_STATE_BY_RANGE + QUERY_STATE_NEXT)
answered by RESPONSE or ERROR. An ERROR always raises: it is never taken for a value.
The transaction ends with COMPLETED carrying a peer.Response and the chaincode event.

A Fabric 3.1 peer says in READY what more it takes: several keys read in one
GET_STATE_MULTIPLE, and a transaction's writes sent at its end in WRITE_BATCH_STATE.
Where it does, a grant is two requests to the peer rather than seven (six messages on
the stream, not sixteen); a 2.5 peer says nothing, and is asked one key at a time.

A peer's connection is served by one thread (`grpc_wire`), and each transaction runs in
a greenlet of that thread: a stub call switches back to the connection with its request,
and the peer's answer switches straight back into the transaction. A message costs no
thread hand-off, no lock and no queue, and many transactions still wait on the peer at
once.

Run: python -m ledger_gw.fabric.chaincode_server --address 127.0.0.1:9999 \
        --id ledger:<hash> --consortium consortium.json \
        --tls-cert cc.pem --tls-key cc.key [--tls-client-ca ca.pem]
(or the CHAINCODE_SERVER_ADDRESS, CHAINCODE_ID, CHAINCODE_CONSORTIUM, CHAINCODE_TLS_*
environment variables). The consortium file gives each member's role (fabric.identity).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import logging
import math
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from greenlet import greenlet

from chaincode.contract import invoke
from chaincode.errors import ContractError, ValidationError
from chaincode.stub import Identity, Role
from chaincode.stub import composite_key as make_composite_key
from ledger_gw import protos as pb
from ledger_gw.consortium import Consortium
from ledger_gw.fabric.grpc_wire import INTERNAL as INTERNAL_STATUS
from ledger_gw.fabric.grpc_wire import Call, Connection
from ledger_gw.fabric.identity import identity_from_creator
from ledger_gw.fabric.proposal import proposer

_log = logging.getLogger("ledger_gw.fabric.chaincode")
M = pb.shim.ChaincodeMessage
_PUT = pb.shim.WriteRecord.PUT_STATE
MAX_UNICODE_RUNE = "\U0010ffff"
OK, BAD_REQUEST, INTERNAL = 200, 400, 500
CONNECT = "/protos.Chaincode/Connect"
MAX_MESSAGE = 100 * 1024 * 1024

Contract = Callable[[Any, str, Sequence[bytes]], bytes]
Identify = Callable[[bytes], Identity]  # a serialized creator → who the contract sees


class PeerError(Exception):
    """The peer answered a stub call with ERROR (or with something unexpected)."""


class StreamClosedError(PeerError):
    """The peer went away while a transaction was waiting for it."""


def _type_name(value: int) -> str:
    """A message type's name, or its number where it has none (a peer may send any)."""
    return str(M.Type.Name(value)) if value in M.Type.values() else str(value)


#: How far a proposal's time may be from this peer's clock. Fabric checks no proposal's
#: time, and the contract judges consent expiry (and orders her history) by it: a member
#: would otherwise read under a consent expired long ago by dating its query before.
MAX_SKEW = dt.timedelta(minutes=10)


def _check_clock(proposed: dt.datetime) -> None:
    skew = abs(proposed - dt.datetime.now(dt.UTC))
    if skew > MAX_SKEW:
        raise ValidationError("clock_skew", f"the proposal's time is {skew} from this peer's")


_NO_LIMIT = 2**31  # an offer without a size: as many as a message holds


@dataclass(frozen=True)
class PeerOffers:
    """What the peer's READY offers beyond one key a request (Fabric 3.1): how many keys
    one read may ask for, how many writes one batch may carry (0: not offered)."""

    keys_a_read: int = 0
    writes_a_batch: int = 0

    @classmethod
    def of_ready(cls, payload: bytes) -> PeerOffers:
        try:
            params = pb.chaincode.ChaincodeAdditionalParams.FromString(payload)
        except DecodeError:
            _log.warning("READY offers what no peer says: one key a request")
            return cls()
        return cls(
            (params.max_size_get_multiple_keys or _NO_LIMIT) if params.use_get_multiple_keys else 0,
            (params.max_size_write_batch or _NO_LIMIT) if params.use_write_batch else 0,
        )


class FabricStub:
    """The contract's Stub for one transaction, run in a greenlet of its connection's thread."""

    def __init__(
        self, message: Any, connection: greenlet, offers: PeerOffers, identify: Identify
    ) -> None:
        self._identify = identify
        self._txid = str(message.txid)
        self._channel = str(message.channel_id)
        self._timestamp, self._creator = proposer(message.proposal.proposal_bytes)
        self._connection = connection
        self._offers = offers
        self._batch: list[Any] = []  # writes not yet sent, where the peer takes batches
        self.event: Any = None

    @property
    def tx_id(self) -> str:
        return self._txid

    @property
    def tx_timestamp(self) -> dt.datetime:
        return self._timestamp

    @cached_property
    def creator(self) -> Identity:
        return self._identify(self._creator)

    def _ask(self, kind: int, payload: Any) -> bytes:
        request = M(
            type=kind,
            payload=payload.SerializeToString(),
            txid=self._txid,
            channel_id=self._channel,
        )
        reply = self._connection.switch(request)  # back here with the peer's answer
        if reply.type == M.RESPONSE:
            return bytes(reply.payload)
        if reply.type == M.ERROR:
            text = bytes(reply.payload).decode("utf-8", "replace")
            raise PeerError(f"peer refused {_type_name(kind)}: {text}")
        raise PeerError(f"peer answered {_type_name(kind)} with {_type_name(reply.type)}")

    def get_state(self, key: str) -> bytes | None:
        value = self._ask(M.GET_STATE, pb.shim.GetState(key=key, collection=""))
        return value or None  # Fabric: an empty value is an absent key

    def get_states(self, keys: Sequence[str]) -> list[bytes | None]:
        size = self._offers.keys_a_read
        if size < 2 or len(keys) < 2:
            return [self.get_state(key) for key in keys]
        values: list[bytes | None] = []
        for start in range(0, len(keys), size):
            asked = keys[start : start + size]
            reply = self._ask(M.GET_STATE_MULTIPLE, pb.shim.GetStateMultiple(keys=asked))
            found = pb.shim.GetStateMultipleResult.FromString(reply).values
            if len(found) != len(asked):
                raise PeerError(f"peer answered {len(asked)} keys with {len(found)} values")
            values.extend(bytes(value) or None for value in found)
        return values

    def put_state(self, key: str, value: bytes) -> None:
        if not value:
            raise ValueError("Fabric cannot store an empty value")
        if self._offers.writes_a_batch:
            self._batch.append(pb.shim.WriteRecord(key=key, value=value, type=_PUT))
            return
        self._ask(M.PUT_STATE, pb.shim.PutState(key=key, value=value, collection=""))

    def finish(self) -> None:
        """Send the writes the peer takes in batches: before COMPLETED, as the Go shim."""
        size = self._offers.writes_a_batch
        batch, self._batch = self._batch, []
        if not batch:
            return
        for start in range(0, len(batch), size):
            self._ask(M.WRITE_BATCH_STATE, pb.shim.WriteBatchState(rec=batch[start : start + size]))

    def _pages(self, first: bytes) -> Iterator[Any]:
        """Each result of a paged state query, fetching the next page only when needed."""
        response = pb.shim.QueryResponse.FromString(first)
        while True:
            yield from response.results
            if not response.has_more:
                return
            more = self._ask(M.QUERY_STATE_NEXT, pb.shim.QueryStateNext(id=response.id))
            response = pb.shim.QueryResponse.FromString(more)

    def get_state_by_range(
        self, start: str, end: str, metadata: bytes = b""
    ) -> Iterator[tuple[str, bytes]]:
        asked = pb.shim.GetStateByRange(
            startKey=start, endKey=end, collection="", metadata=metadata
        )
        first = self._ask(M.GET_STATE_BY_RANGE, asked)
        for item in self._pages(first):
            kv = pb.queryresult.KV.FromString(item.resultBytes)
            yield str(kv.key), bytes(kv.value)

    def get_state_by_partial_composite_key(
        self, object_type: str, attributes: Sequence[str]
    ) -> Iterator[tuple[str, bytes]]:
        start = make_composite_key(object_type, attributes)
        # Materialised, so that the query's iterator on the peer is finished before the
        # contract makes its next call (the Go shim's callers must Close() for the same).
        return iter(list(self.get_state_by_range(start, start + MAX_UNICODE_RUNE)))

    def get_state_page(self, start: str, end: str, limit: int) -> list[tuple[str, bytes]]:
        """One page of a range: the peer reads no further (queries only: a transaction
        whose range was paged may not write)."""
        paged = pb.shim.QueryMetadata(pageSize=limit, bookmark="").SerializeToString()
        return list(itertools.islice(self.get_state_by_range(start, end, paged), limit))

    def set_event(self, name: str, payload: bytes) -> None:
        if not name:
            raise ValueError("an event needs a name")
        self.event = pb.chaincode_event.ChaincodeEvent(event_name=name, payload=payload)


class _Stream:
    """One Connect stream: its transactions, each a greenlet waiting for the peer's answer.

    Every message from the peer is handled at once on the connection's thread, and the
    one message it calls for (the transaction's next request or its COMPLETED, a
    KEEPALIVE's echo, an ERROR) is sent back.
    """

    def __init__(
        self, call: Call, contract: Contract, identify: Identify, chaincode_id: str, timeout: float
    ):
        self._call = call
        self._contract = contract
        self._identify = identify
        self._chaincode_id = chaincode_id
        self._timeout = timeout
        self._waiting: dict[tuple[str, str], tuple[greenlet, float]] = {}
        self._ready = False
        self._offers = PeerOffers()  # what READY offers
        self._connection = greenlet.getcurrent()  # where transactions switch to ask the peer
        register = pb.chaincode.ChaincodeID(name=chaincode_id).SerializeToString()
        call.send(M(type=M.REGISTER, payload=register).SerializeToString())

    def received(self, data: bytes) -> None:
        try:
            message = M.FromString(data)
        except DecodeError:
            _log.warning("the peer sent a message that is not a ChaincodeMessage")
            self._call.finish(INTERNAL_STATUS, "not a ChaincodeMessage")
            return
        reply = self._handle(message)
        if reply is not None:
            self._call.send(reply.SerializeToString())

    def _handle(self, message: Any) -> Any:
        kind = message.type
        if kind == M.RESPONSE or kind == M.ERROR:
            waiting = self._waiting.pop((message.channel_id, message.txid), None)
            if waiting is None:
                _log.warning("unexpected %s for tx %s", _type_name(kind), message.txid)
                return None
            return self._step(waiting[0], waiting[0].switch, message)
        if kind == M.TRANSACTION or kind == M.INIT:
            if not self._ready:
                return _error(message, "chaincode is not ready")
            if (message.channel_id, message.txid) in self._waiting:
                # The peer's answers name the transaction: a second would take the first's.
                return _error(message, f"transaction {message.txid} is already running")
            run = greenlet(self._transaction)
            return self._step(run, run.switch, message)
        if kind == M.KEEPALIVE:
            return message
        if kind == M.READY:
            self._offers = PeerOffers.of_ready(message.payload)
            self._ready = True
            _log.info("chaincode %s ready (%s)", self._chaincode_id, self._offers)
        elif kind != M.REGISTERED:
            _log.warning("ignoring %s from the peer", _type_name(kind))
        return None

    def _step(self, run: greenlet, resume: Callable[[Any], Any], value: Any) -> Any:
        """Resume a transaction until it asks the peer something or ends."""
        out = resume(value)
        if not run.dead:
            self._waiting[(out.channel_id, out.txid)] = (run, time.monotonic() + self._timeout)
        return out

    def tick(self) -> None:
        """Fail the transactions whose request the peer has left unanswered too long."""
        now = time.monotonic()
        for key in [key for key, (_, deadline) in self._waiting.items() if deadline < now]:
            run, _ = self._waiting.pop(key)
            reply = self._step(run, run.throw, PeerError("no answer from the peer"))
            if reply is not None:
                self._call.send(reply.SerializeToString())

    def ended(self) -> None:
        """The stream ended: each waiting transaction ends without answering."""
        waiting, self._waiting = self._waiting, {}
        for run, _ in waiting.values():
            run.throw(StreamClosedError("the peer closed the chaincode stream"))

    def _transaction(self, message: Any) -> Any:
        """One transaction, in its own greenlet: its COMPLETED message, or None."""
        event = None
        try:
            stub = FabricStub(message, self._connection, self._offers, self._identify)
            _check_clock(stub.tx_timestamp)
            args = list(pb.chaincode.ChaincodeInput.FromString(message.payload).args)
            if not args:
                raise ContractError("invalid_arguments", "no function named")
            function = bytes(args[0]).decode("utf-8", "replace")
            result = self._contract(stub, function, [bytes(a) for a in args[1:]])
            stub.finish()
            response = _response(OK, "", result)
            event = stub.event
        except ContractError as error:
            response = _response(BAD_REQUEST, error.to_json(), b"")
        except StreamClosedError:
            return None
        except PeerError as error:
            _log.warning("transaction %s: %s", message.txid, error)
            response = _response(INTERNAL, f"chaincode stopped: {error}", b"")
        except Exception:
            _log.exception("contract failed on transaction %s", message.txid)
            response = _response(INTERNAL, "the contract failed on this transaction", b"")
        completed = M(
            type=M.COMPLETED,
            payload=response.SerializeToString(),
            txid=message.txid,
            channel_id=message.channel_id,
        )
        if event is not None:
            completed.chaincode_event.CopyFrom(event)
        return completed


def _error(message: Any, text: str) -> Any:
    return M(type=M.ERROR, payload=text.encode(), txid=message.txid, channel_id=message.channel_id)


def _response(status: int, message: str, payload: bytes) -> Any:
    return pb.proposal_response.Response(status=status, message=message, payload=payload)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None  # when set, peers must present a certificate it issued

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        if self.client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.client_ca)
        context.set_alpn_protocols(["h2"])  # gRPC clients insist on it
        return context


def _handshake(conn: ssl.SSLSocket, deadline: float) -> None:
    """TLS's handshake, done by `time.monotonic()` `deadline`: a socket's timeout bounds
    each read, and a client sending a byte at a time would make many."""
    conn.setblocking(False)
    poller = select.poll()
    while True:
        try:
            conn.do_handshake()
            return
        except ssl.SSLWantReadError:
            poller.register(conn, select.POLLIN)
        except ssl.SSLWantWriteError:
            poller.register(conn, select.POLLOUT)
        if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            raise TimeoutError("the TLS handshake took too long")


class Server:
    """Accepts peers' connections; each is served by a thread of its own.

    Before any peer authenticates, whoever reaches the port may connect: a peer keeps
    one connection, so a few are held at once (`max_connections`; more are closed as
    they come); each must open its call within `first_call_timeout` seconds of arriving
    (TLS and HTTP/2's preface included), and is closed when the client leaves what it
    is sent unread for `send_timeout` seconds.
    """

    #: How long accepting pauses when the system refuses a connection its socket or
    #: thread (out of file descriptors, say): the refusal passes as connections close.
    ACCEPT_RETRY = 0.1
    #: How often connections refused for `max_connections` are logged (their count).
    REFUSALS_LOGGED_EVERY = 60.0

    def __init__(
        self,
        listener: socket.socket,
        tls: ssl.SSLContext | None,
        methods: Any,
        *,
        max_connections: int = 32,
        first_call_timeout: float = 10.0,
        send_timeout: float = 30.0,
    ):
        self._listener = listener
        self._tls = tls
        self._methods = methods
        self._max_connections = max_connections
        self._first_call_timeout = first_call_timeout
        self._send_timeout = send_timeout
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._refused = 0  # connections refused since they were last logged
        self._refusals_logged = -math.inf
        self._stopping = threading.Event()
        self._accepting = threading.Thread(target=self._accept, name="chaincode-accept")
        self._accepting.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _accept(self) -> None:
        """Accept until stopped: a failure to accept one connection (a client holding
        every file descriptor, a thread the system will not start) ends no more than it,
        or the peers could never connect again."""
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError as error:
                if not self._stopping.is_set():
                    _log.warning("cannot accept a chaincode connection: %s", error)
                    self._stopping.wait(self.ACCEPT_RETRY)
                continue
            thread = threading.Thread(target=self._serve, args=(sock,), name="chaincode-conn")
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                if len(self._threads) >= self._max_connections:
                    self._refuse(sock)
                    continue
                try:
                    thread.start()
                except RuntimeError as error:
                    _log.warning("cannot serve a chaincode connection: %s", error)
                    sock.close()
                    continue
                self._connections.add(sock)
                self._threads.append(thread)

    def _refuse(self, sock: socket.socket) -> None:
        """Close a connection beyond `max_connections`; log how many, once in a while."""
        self._refused += 1
        now = time.monotonic()
        if now - self._refusals_logged >= self.REFUSALS_LOGGED_EVERY:
            _log.warning(
                "refused %d chaincode connection(s): %d are open, the most this server holds",
                self._refused,
                self._max_connections,
            )
            self._refused, self._refusals_logged = 0, now
        sock.close()

    def _serve(self, sock: socket.socket) -> None:
        deadline = time.monotonic() + self._first_call_timeout
        conn = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                conn = self._tls.wrap_socket(  # takes sock's place
                    sock, server_side=True, do_handshake_on_connect=False
                )
                with self._lock:
                    self._connections.add(conn)
                _handshake(conn, deadline)
            conn.settimeout(self._send_timeout)  # for sends: reads wait in poll first
            Connection(conn, self._methods, MAX_MESSAGE, first_call_by=deadline).run()
        except OSError as error:  # ssl.SSLError is one
            _log.warning("chaincode connection failed: %s", error)
        except Exception:
            _log.exception("chaincode connection failed")
        finally:
            with self._lock:
                self._connections.discard(sock)
                self._connections.discard(conn)
            conn.close()

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, give open connections `grace` seconds, then close them."""
        self._stopping.set()
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        self._accepting.join()
        deadline = time.monotonic() + (grace or 0.0)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for sock in self._connections:
                with contextlib.suppress(OSError):  # closing already
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join()


#: The largest creator whose identity is remembered. A consortium has few submitting
#: certificates, and parsing one costs more than the contract; but a member may pad its
#: creator (Fabric's MSP ignores fields it does not know) and each padding, kept as a
#: cache key, would hold up to a message's size for good.
MAX_CACHED_CREATOR = 16 * 1024


def _identifier(members: Mapping[str, Role]) -> Identify:
    """``identity_from_creator`` for these members, remembered for creators of a
    certificate's size."""
    identify = partial(identity_from_creator, members=dict(members))
    cached = lru_cache(maxsize=1024)(identify)

    def identity(creator: bytes) -> Identity:
        return cached(creator) if len(creator) <= MAX_CACHED_CREATOR else identify(creator)

    return identity


def serve(
    address: str,
    chaincode_id: str,
    tls: TlsFiles | None,
    *,
    members: Mapping[str, Role],
    contract: Contract = invoke,
    stub_timeout: float = 30.0,
) -> tuple[Server, int]:
    """Start the server for a consortium whose members have the roles ``members`` gives
    them; returns it and the bound port (address may end in :0)."""
    host, _, port = address.rpartition(":")
    try:
        listener = socket.create_server((host.strip("[]"), int(port)), backlog=64)
    except (OSError, ValueError) as error:
        raise OSError(f"cannot listen on {address}: {error}") from error

    identify = _identifier(members)

    def connect(call: Call) -> _Stream:
        return _Stream(call, contract, identify, chaincode_id, stub_timeout)

    server = Server(listener, None if tls is None else tls.context(), {CONNECT: connect})
    return server, server.port


def main(argv: Sequence[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=env("CHAINCODE_SERVER_ADDRESS", "0.0.0.0:9999"))
    parser.add_argument("--id", dest="chaincode_id", default=env("CHAINCODE_ID"))
    parser.add_argument(
        "--id-file", default=env("CHAINCODE_ID_FILE"), help="read the package ID from a file"
    )
    parser.add_argument(
        "--consortium",
        type=Path,
        default=env("CHAINCODE_CONSORTIUM"),
        help="the consortium file (consortium.json): each member's role",
    )
    parser.add_argument("--tls-cert", default=env("CHAINCODE_TLS_CERT"))
    parser.add_argument("--tls-key", default=env("CHAINCODE_TLS_KEY"))
    parser.add_argument("--tls-client-ca", default=env("CHAINCODE_TLS_CLIENT_CA"))
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=env("CHAINCODE_TLS_DISABLED", "").lower() == "true",
        help="serve without TLS (tests only)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.chaincode_id and args.id_file:
        args.chaincode_id = Path(args.id_file).read_text().strip()
    if not args.chaincode_id:
        parser.error("the package ID (--id, --id-file or CHAINCODE_ID) is required")
    if args.consortium is None:
        parser.error("the consortium file (--consortium or CHAINCODE_CONSORTIUM) is required")
    consortium = Consortium.load(args.consortium)
    members = {org_id: org.role for org_id, org in consortium.organisations.items()}
    tls = None
    if not args.insecure:
        if not (args.tls_cert and args.tls_key):
            parser.error("TLS needs --tls-cert and --tls-key (or --insecure for tests)")
        client_ca = Path(args.tls_client_ca) if args.tls_client_ca else None
        tls = TlsFiles(Path(args.tls_cert), Path(args.tls_key), client_ca)
    server, port = serve(args.address, args.chaincode_id, tls, members=members)
    _log.info(
        "chaincode %s listening on port %d (TLS %s)", args.chaincode_id, port, tls is not None
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
