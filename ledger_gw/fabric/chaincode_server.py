"""The contract as Fabric chaincode: a chaincode-as-a-service server on the official protos.

The peer dials this server (the address in the package's connection.json) and opens the
bidirectional `protos.Chaincode/Connect` stream. The chaincode speaks first (REGISTER
with its package ID); the peer answers REGISTERED and READY, then sends TRANSACTION (or
INIT) messages. While a transaction runs, each stub call is a request on the same stream
(GET_STATE, PUT_STATE, GET_STATE_BY_RANGE + QUERY_STATE_NEXT)
answered by RESPONSE or ERROR. An ERROR always raises: it is never taken for a value.
The transaction ends with COMPLETED carrying a peer.Response and the chaincode event.

Run: python -m ledger_gw.fabric.chaincode_server --address 127.0.0.1:9999 \
        --id ledger:<hash> --tls-cert cc.pem --tls-key cc.key [--tls-client-ca ca.pem]
(or the CHAINCODE_SERVER_ADDRESS, CHAINCODE_ID, CHAINCODE_TLS_* environment variables).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import grpc

from chaincode.contract import invoke
from chaincode.errors import ContractError
from chaincode.stub import Identity
from chaincode.stub import composite_key as make_composite_key
from ledger_gw import protos as pb
from ledger_gw.fabric.identity import identity_from_creator
from ledger_gw.fabric.proposal import read_proposal

_log = logging.getLogger("ledger_gw.fabric.chaincode")
M = pb.shim.ChaincodeMessage
MAX_UNICODE_RUNE = "\U0010ffff"
OK, BAD_REQUEST, INTERNAL = 200, 400, 500

Contract = Callable[[Any, str, Sequence[bytes]], bytes]


class PeerError(Exception):
    """The peer answered a stub call with ERROR (or with something unexpected)."""


class StreamClosedError(PeerError):
    """The peer went away while a transaction was waiting for it."""


def _type_name(value: int) -> str:
    return str(M.Type.Name(value))


class _Conversation:
    """One Connect stream: outgoing queue, and replies routed to the waiting transaction."""

    def __init__(self) -> None:
        self.outgoing: queue.Queue[Any] = queue.Queue()
        self._waiting: dict[tuple[str, str], queue.Queue[Any]] = {}
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def send(self, message: Any) -> None:
        self.outgoing.put(message)

    def messages(self) -> Iterator[Any]:
        while True:
            message = self.outgoing.get()
            if message is None:
                return
            yield message

    def request(self, message: Any, timeout: float) -> Any:
        """Send a stub request for one transaction and wait for the peer's answer."""
        key = (message.channel_id, message.txid)
        box: queue.Queue[Any] = queue.Queue(maxsize=1)
        with self._lock:
            if self.closed.is_set():
                raise StreamClosedError("the peer closed the chaincode stream")
            self._waiting[key] = box
        try:
            self.send(message)
            try:
                reply = box.get(timeout=timeout)
            except queue.Empty:
                raise PeerError(f"no answer from the peer to {_type_name(message.type)}") from None
        finally:
            with self._lock:
                self._waiting.pop(key, None)
        if reply is None:
            raise StreamClosedError("the peer closed the chaincode stream")
        return reply

    def deliver(self, message: Any) -> bool:
        with self._lock:
            box = self._waiting.get((message.channel_id, message.txid))
        if box is None:
            return False
        box.put(message)
        return True

    def close(self) -> None:
        with self._lock:
            self.closed.set()
            boxes = list(self._waiting.values())
        for box in boxes:
            box.put(None)
        self.outgoing.put(None)


class FabricStub:
    """The contract's Stub for one transaction, over the peer's stream."""

    def __init__(self, conversation: _Conversation, message: Any, timeout: float) -> None:
        self._conversation = conversation
        self._txid = str(message.txid)
        self._channel = str(message.channel_id)
        self._proposal = read_proposal(message.proposal.proposal_bytes)
        self._timeout = timeout
        self.event: Any = None

    @property
    def tx_id(self) -> str:
        return self._txid

    @property
    def tx_timestamp(self) -> dt.datetime:
        return self._proposal.timestamp

    @cached_property
    def creator(self) -> Identity:
        return identity_from_creator(self._proposal.creator)

    def _ask(self, kind: int, payload: Any) -> bytes:
        message = M(
            type=kind,
            payload=payload.SerializeToString(),
            txid=self._txid,
            channel_id=self._channel,
        )
        reply = self._conversation.request(message, self._timeout)
        if reply.type == M.RESPONSE:
            return bytes(reply.payload)
        if reply.type == M.ERROR:
            text = bytes(reply.payload).decode("utf-8", "replace")
            raise PeerError(f"peer refused {_type_name(kind)}: {text}")
        raise PeerError(f"peer answered {_type_name(kind)} with {_type_name(reply.type)}")

    def get_state(self, key: str) -> bytes | None:
        value = self._ask(M.GET_STATE, pb.shim.GetState(key=key, collection=""))
        return value or None  # Fabric: an empty value is an absent key

    def put_state(self, key: str, value: bytes) -> None:
        if not value:
            raise ValueError("Fabric cannot store an empty value")
        self._ask(M.PUT_STATE, pb.shim.PutState(key=key, value=value, collection=""))

    def _pages(self, first: bytes) -> Iterator[Any]:
        """Each result of a paged state query, fetching the next page only when needed."""
        response = pb.shim.QueryResponse.FromString(first)
        while True:
            yield from response.results
            if not response.has_more:
                return
            more = self._ask(M.QUERY_STATE_NEXT, pb.shim.QueryStateNext(id=response.id))
            response = pb.shim.QueryResponse.FromString(more)

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        first = self._ask(
            M.GET_STATE_BY_RANGE, pb.shim.GetStateByRange(startKey=start, endKey=end, collection="")
        )
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

    def set_event(self, name: str, payload: bytes) -> None:
        if not name:
            raise ValueError("an event needs a name")
        self.event = pb.chaincode_event.ChaincodeEvent(event_name=name, payload=payload)


@dataclass
class ChaincodeService:
    """The `protos.Chaincode` servicer: one conversation per peer connection."""

    chaincode_id: str
    contract: Contract = invoke
    workers: int = 8
    stub_timeout: float = 30.0

    def __post_init__(self) -> None:
        self._pool = futures.ThreadPoolExecutor(self.workers, thread_name_prefix="chaincode-tx")

    def Connect(self, request_iterator: Iterable[Any], context: Any) -> Iterator[Any]:  # noqa: N802
        conversation = _Conversation()
        register = pb.chaincode.ChaincodeID(name=self.chaincode_id)
        conversation.send(M(type=M.REGISTER, payload=register.SerializeToString()))
        reader = threading.Thread(
            target=self._read, args=(conversation, request_iterator), daemon=True
        )
        reader.start()
        if hasattr(context, "add_callback"):
            context.add_callback(conversation.close)
        yield from conversation.messages()

    def _read(self, conversation: _Conversation, incoming: Iterable[Any]) -> None:
        state = "created"
        try:
            for message in incoming:
                kind = message.type
                if kind == M.REGISTERED:
                    state = "established"
                elif kind == M.READY:
                    state = "ready"
                    _log.info("chaincode %s ready", self.chaincode_id)
                elif kind == M.KEEPALIVE:
                    conversation.send(message)
                elif kind in (M.TRANSACTION, M.INIT):
                    if state != "ready":
                        conversation.send(self._error(message, "chaincode is not ready"))
                        continue
                    self._pool.submit(self._transaction, conversation, message)
                elif kind in (M.RESPONSE, M.ERROR):
                    if not conversation.deliver(message):
                        _log.warning("unexpected %s for tx %s", _type_name(kind), message.txid)
                else:
                    _log.warning("ignoring %s from the peer", _type_name(kind))
        except grpc.RpcError:
            pass
        finally:
            conversation.close()

    @staticmethod
    def _error(message: Any, text: str) -> Any:
        return M(
            type=M.ERROR,
            payload=text.encode(),
            txid=message.txid,
            channel_id=message.channel_id,
        )

    def _transaction(self, conversation: _Conversation, message: Any) -> None:
        event = None
        try:
            stub = FabricStub(conversation, message, self.stub_timeout)
            args = list(pb.chaincode.ChaincodeInput.FromString(message.payload).args)
            if not args:
                raise ContractError("invalid_arguments", "no function named")
            function = bytes(args[0]).decode("utf-8", "replace")
            result = self.contract(stub, function, [bytes(a) for a in args[1:]])
            response = _response(OK, "", result)
            event = stub.event
        except ContractError as error:
            response = _response(BAD_REQUEST, error.to_json(), b"")
        except StreamClosedError:
            return
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
        conversation.send(completed)


def _response(status: int, message: str, payload: bytes) -> Any:
    return pb.proposal_response.Response(status=status, message=message, payload=payload)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None  # when set, peers must present a certificate it issued


def serve(
    address: str,
    chaincode_id: str,
    tls: TlsFiles | None,
    *,
    contract: Contract = invoke,
    workers: int = 8,
) -> tuple[grpc.Server, int]:
    """Start the server; returns it and the bound port (address may end in :0)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="chaincode-grpc"),
        options=[("grpc.max_receive_message_length", 100 * 1024 * 1024)],
    )
    service = ChaincodeService(chaincode_id, contract, workers)
    handler = grpc.method_handlers_generic_handler(
        "protos.Chaincode",
        {
            "Connect": grpc.stream_stream_rpc_method_handler(
                service.Connect,
                request_deserializer=M.FromString,
                response_serializer=M.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    if tls is None:
        port = server.add_insecure_port(address)
    else:
        credentials = grpc.ssl_server_credentials(
            [(tls.key.read_bytes(), tls.cert.read_bytes())],
            root_certificates=tls.client_ca.read_bytes() if tls.client_ca else None,
            require_client_auth=tls.client_ca is not None,
        )
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    return server, port


def main(argv: Sequence[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=env("CHAINCODE_SERVER_ADDRESS", "0.0.0.0:9999"))
    parser.add_argument("--id", dest="chaincode_id", default=env("CHAINCODE_ID"))
    parser.add_argument(
        "--id-file", default=env("CHAINCODE_ID_FILE"), help="read the package ID from a file"
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
    tls = None
    if not args.insecure:
        if not (args.tls_cert and args.tls_key):
            parser.error("TLS needs --tls-cert and --tls-key (or --insecure for tests)")
        client_ca = Path(args.tls_client_ca) if args.tls_client_ca else None
        tls = TlsFiles(Path(args.tls_cert), Path(args.tls_key), client_ca)
    server, port = serve(args.address, args.chaincode_id, tls)
    _log.info(
        "chaincode %s listening on port %d (TLS %s)", args.chaincode_id, port, tls is not None
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
