"""The chaincode-as-a-service shim's message loop, against a fake peer over real gRPC.

The fake peer plays Fabric's side of `protos.Chaincode/Connect`: it reads REGISTER,
answers REGISTERED and READY, sends TRANSACTION messages and answers the stub's
requests. The failure modes of the third-party Python shim are tested explicitly: an
ERROR from the peer must fail the transaction (never read as a value), the event must
reach the COMPLETED message, and range queries must follow QUERY_STATE_NEXT pages.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chaincode.errors import ForbiddenError, ValidationError
from chaincode.stub import Identity, Role, composite_key
from ledger_gw import protos as pb
from ledger_gw.fabric.chaincode_server import TlsFiles, main, serve
from ledger_gw.fabric.identity import FABRIC_CA_ATTRS_OID, identity_from_creator, role_of
from ledger_gw.fabric.proposal import FabricSigner, build_proposal
from ledger_gw.identity import cert_pem, issue_ca, issue_member
from tests.support.tls import self_signed_localhost

M = pb.shim.ChaincodeMessage


def _now() -> dt.datetime:
    """A proposal's time: the server holds it to its clock, so it is taken when sent (a
    time taken as the suite starts would be stale by the time this module runs)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=123456)


Contract = Callable[[Any, str, Sequence[bytes]], bytes]
#: The consortium's members and their roles, as the chaincode server is given them.
MEMBERS: dict[str, Role] = {"AGENCY-A": "agency", "AGENCY-B": "agency", "DONOR-Y": "donor"}


@pytest.fixture(scope="module")
def signer() -> FabricSigner:
    ca_key, ca_cert = issue_ca("AGENCY-B")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-B", "agency", "gw")
    return FabricSigner("AGENCY-B", cert_pem(cert), key)


class FakePeer:
    """The peer's end of one Connect stream."""

    def __init__(self, channel: grpc.Channel) -> None:
        self._channel = channel
        self._out: queue.Queue[Any] = queue.Queue()
        connect = channel.stream_stream(
            "/protos.Chaincode/Connect",
            request_serializer=M.SerializeToString,
            response_deserializer=M.FromString,
        )
        self._in: Iterator[Any] = connect(iter(self._out.get, None), timeout=20)

    def send(self, message: Any) -> None:
        self._out.put(message)

    def receive(self) -> Any:
        return next(self._in)

    def handshake(self, offers: bytes = b"") -> Any:
        """`offers`: READY's payload, what a Fabric 3.1 peer takes beyond one key a
        request (a 2.5 peer sends none)."""
        register = self.receive()
        self.send(M(type=M.REGISTERED))
        self.send(M(type=M.READY, payload=offers))
        return register

    def answer(self, asked: Any, payload: bytes = b"") -> None:
        self.send(M(type=M.RESPONSE, payload=payload, txid=asked.txid, channel_id="referrals"))

    def transaction(
        self,
        signer: FabricSigner,
        function: str,
        *args: bytes,
        nonce: bytes = b"n" * 24,
        when: dt.datetime | None = None,
    ) -> str:
        built = build_proposal(
            creator=signer.creator,
            channel="referrals",
            chaincode="ledger",
            function=function,
            args=list(args),
            nonce=nonce,
            timestamp=when or _now(),
        )
        self.send(
            M(
                type=M.TRANSACTION,
                payload=pb.chaincode.ChaincodeInput(
                    args=[function.encode(), *args]
                ).SerializeToString(),
                txid=built.tx_id,
                channel_id="referrals",
                proposal=built.signed(signer),
            )
        )
        return built.tx_id

    def close(self) -> None:
        self._out.put(None)
        for _ in self._in:  # the server ends its side once ours has ended
            pass
        self._channel.close()


def _response(message: Any) -> Any:
    assert message.type == M.COMPLETED, M.Type.Name(message.type)
    return pb.proposal_response.Response.FromString(message.payload)


@pytest.fixture
def connect() -> Iterator[Callable[[Contract], FakePeer]]:
    servers: list[grpc.Server] = []
    peers: list[FakePeer] = []

    def make(contract: Contract) -> FakePeer:
        server, port = serve(
            "127.0.0.1:0", "ledger:abc123", None, members=MEMBERS, contract=contract
        )
        servers.append(server)
        peer = FakePeer(grpc.insecure_channel(f"127.0.0.1:{port}"))
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()
    for server in servers:
        server.stop(grace=None)


def test_register_ready_and_a_transaction_with_its_event(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    seen: dict[str, Any] = {}

    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        seen.update(
            tx_id=stub.tx_id, time=stub.tx_timestamp, creator=stub.creator, fn=function, args=args
        )
        assert stub.get_state("k1") == b"v1"
        assert stub.get_state("absent") is None
        stub.put_state("k2", b"v2")
        stub.set_event("referral.created", b"key-of-the-record")
        return b'{"ok":true}'

    peer = connect(contract)
    register = peer.handshake()
    assert register.type == M.REGISTER
    assert pb.chaincode.ChaincodeID.FromString(register.payload).name == "ledger:abc123"
    when = _now()
    tx_id = peer.transaction(signer, "submit", b'{"e":1}', when=when)
    ask = peer.receive()
    assert ask.type == M.GET_STATE
    assert ask.txid == tx_id
    assert ask.channel_id == "referrals"
    assert pb.shim.GetState.FromString(ask.payload).key == "k1"
    peer.send(M(type=M.RESPONSE, payload=b"v1", txid=tx_id, channel_id="referrals"))
    ask = peer.receive()
    peer.send(M(type=M.RESPONSE, payload=b"", txid=tx_id, channel_id="referrals"))
    put = peer.receive()
    assert put.type == M.PUT_STATE
    assert pb.shim.PutState.FromString(put.payload).value == b"v2"
    peer.send(M(type=M.RESPONSE, txid=tx_id, channel_id="referrals"))
    done = peer.receive()
    assert _response(done).status == 200
    assert _response(done).payload == b'{"ok":true}'
    assert done.chaincode_event.event_name == "referral.created"
    assert done.chaincode_event.payload == b"key-of-the-record"
    assert seen["tx_id"] == tx_id
    assert seen["time"] == when
    assert seen["creator"] == Identity("AGENCY-B", "agency")
    assert (seen["fn"], list(seen["args"])) == ("submit", [b'{"e":1}'])


def _offers(keys: int, writes: int) -> bytes:
    return bytes(
        pb.chaincode.ChaincodeAdditionalParams(
            use_get_multiple_keys=True,
            max_size_get_multiple_keys=keys,
            use_write_batch=True,
            max_size_write_batch=writes,
        ).SerializeToString()
    )


def _reads_three_writes_three(got: list[list[bytes | None]]) -> Contract:
    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        got.append(stub.get_states(["k1", "absent", "k3"]))
        for n in (1, 2, 3):
            stub.put_state(f"w{n}", f"v{n}".encode())
        if args == [b"refuse"]:
            raise ValidationError("invalid_value", "refused after writing", "x")
        return b"{}"

    return contract


@pytest.mark.parametrize("minutes", [-11, 11])
def test_a_proposal_dated_far_from_the_peers_clock_is_refused_unrun(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner, minutes: int
) -> None:
    """Fabric checks no proposal's time; the contract judges consent expiry by it. A query
    dated before her consent expired, sent after, would read under it."""
    ran: list[str] = []
    peer = connect(lambda stub, function, args: ran.append(function) or b"{}")
    peer.handshake()
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    peer.transaction(signer, "history", b"k1.x", b"deduplication", when=when)
    done = peer.receive()
    assert done.type == M.COMPLETED
    assert _response(done).status == 400
    assert json.loads(_response(done).message)["code"] == "clock_skew"
    assert ran == []


def test_a_peer_that_offers_batches_is_asked_several_keys_at_once_and_sent_writes_at_the_end(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    """A Fabric 3.1 peer's READY offers reads of several keys and batched writes, each
    up to a size: a transaction's reads and writes go in as few requests as the sizes
    allow, the writes once the contract has returned, before COMPLETED."""
    got: list[list[bytes | None]] = []
    peer = connect(_reads_three_writes_three(got))
    peer.handshake(_offers(keys=2, writes=2))
    peer.transaction(signer, "submit")
    values = {"k1": b"v1", "k3": b"v3"}
    for expected in (["k1", "absent"], ["k3"]):
        ask = peer.receive()
        assert ask.type == M.GET_STATE_MULTIPLE
        keys = list(pb.shim.GetStateMultiple.FromString(ask.payload).keys)
        assert keys == expected
        found = pb.shim.GetStateMultipleResult(values=[values.get(k, b"") for k in keys])
        peer.answer(ask, found.SerializeToString())
    sent: list[tuple[str, bytes]] = []
    for size in (2, 1):
        batch = peer.receive()
        assert batch.type == M.WRITE_BATCH_STATE
        records = pb.shim.WriteBatchState.FromString(batch.payload).rec
        assert len(records) == size
        assert {r.type for r in records} == {pb.shim.WriteRecord.PUT_STATE}
        sent.extend((r.key, r.value) for r in records)
        peer.answer(batch)
    assert _response(peer.receive()).status == 200
    assert got == [[b"v1", None, b"v3"]]
    assert sent == [("w1", b"v1"), ("w2", b"v2"), ("w3", b"v3")]


@pytest.mark.parametrize("offers", [b"", b"\xff\xff not a message"])
def test_a_peer_that_offers_nothing_is_asked_one_key_a_request(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner, offers: bytes
) -> None:
    """Fabric 2.5's READY carries nothing; one that cannot be read offers nothing."""
    got: list[list[bytes | None]] = []
    peer = connect(_reads_three_writes_three(got))
    peer.handshake(offers)
    peer.transaction(signer, "submit")
    for key in ("k1", "absent", "k3"):
        ask = peer.receive()
        assert (ask.type, pb.shim.GetState.FromString(ask.payload).key) == (M.GET_STATE, key)
        peer.answer(ask, b"" if key == "absent" else key.encode())
    for n in (1, 2, 3):
        put = peer.receive()
        assert (put.type, pb.shim.PutState.FromString(put.payload).key) == (M.PUT_STATE, f"w{n}")
        peer.answer(put)
    assert _response(peer.receive()).status == 200
    assert got == [[b"k1", None, b"k3"]]


def test_a_refused_transaction_sends_none_of_its_batched_writes(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    peer = connect(_reads_three_writes_three([]))
    peer.handshake(_offers(keys=10, writes=10))
    peer.transaction(signer, "submit", b"refuse")
    ask = peer.receive()
    peer.answer(ask, pb.shim.GetStateMultipleResult(values=[b"", b"", b""]).SerializeToString())
    response = _response(peer.receive())  # no WRITE_BATCH_STATE before it
    assert response.status == 400


def test_an_answer_with_too_few_values_fails_the_transaction_and_writes_nothing(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    """The attack: a peer answering three keys with two values, so that each value
    would be taken for another key's. The transaction fails; no write is sent."""
    got: list[list[bytes | None]] = []
    peer = connect(_reads_three_writes_three(got))
    peer.handshake(_offers(keys=10, writes=10))
    peer.transaction(signer, "submit")
    ask = peer.receive()
    peer.answer(ask, pb.shim.GetStateMultipleResult(values=[b"v1", b"v3"]).SerializeToString())
    response = _response(peer.receive())
    assert response.status == 500
    assert "3 keys with 2 values" in response.message
    assert got == []


def test_a_peer_error_fails_the_transaction_and_is_never_a_value(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    got: list[bytes | None] = []

    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        got.append(stub.get_state("k"))
        return b"{}"

    peer = connect(contract)
    peer.handshake()
    tx_id = peer.transaction(signer, "history")
    peer.receive()
    peer.send(
        M(
            type=M.ERROR,
            payload=b"GET_STATE failed: ledger closed",
            txid=tx_id,
            channel_id="referrals",
        )
    )
    response = _response(peer.receive())
    assert response.status == 500
    assert "ledger closed" in response.message
    assert got == []  # the contract never saw the error text as state


def test_contract_rejections_travel_as_json_with_status_400(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        raise ValidationError("missing_field", "type is required", "type")

    peer = connect(contract)
    peer.handshake()
    peer.transaction(signer, "submit", b"{}")
    response = _response(peer.receive())
    assert response.status == 400
    assert json.loads(response.message) == {
        "kind": "validation",
        "code": "missing_field",
        "message": "type is required",
        "field": "type",
    }


def _page(keys: Sequence[str], has_more: bool, query_id: str) -> bytes:
    results = [
        pb.shim.QueryResultBytes(
            resultBytes=pb.queryresult.KV(
                namespace="ledger", key=k, value=k.encode()[-1:]
            ).SerializeToString()
        )
        for k in keys
    ]
    return bytes(
        pb.shim.QueryResponse(results=results, has_more=has_more, id=query_id).SerializeToString()
    )


def test_range_queries_follow_the_pages(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    listed: list[tuple[str, bytes]] = []

    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        listed.extend(stub.get_state_by_partial_composite_key("ev", ["p1"]))
        return b"{}"

    keys = [composite_key("ev", ["p1", str(i)]) for i in range(5)]
    peer = connect(contract)
    peer.handshake()
    tx_id = peer.transaction(signer, "history")
    ask = peer.receive()
    assert ask.type == M.GET_STATE_BY_RANGE
    scan = pb.shim.GetStateByRange.FromString(ask.payload)
    assert scan.startKey == composite_key("ev", ["p1"])
    assert scan.endKey == composite_key("ev", ["p1"]) + "\U0010ffff"
    peer.send(
        M(type=M.RESPONSE, payload=_page(keys[:3], True, "q1"), txid=tx_id, channel_id="referrals")
    )
    more = peer.receive()
    assert more.type == M.QUERY_STATE_NEXT
    assert pb.shim.QueryStateNext.FromString(more.payload).id == "q1"
    peer.send(
        M(type=M.RESPONSE, payload=_page(keys[3:], False, "q1"), txid=tx_id, channel_id="referrals")
    )
    assert _response(peer.receive()).status == 200
    assert [k for k, _ in listed] == keys


def test_keepalive_is_echoed_and_early_transactions_refused(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    peer = connect(lambda stub, fn, args: b"{}")
    peer.receive()  # REGISTER
    peer.transaction(signer, "history")  # before READY
    assert peer.receive().type == M.ERROR
    peer.send(M(type=M.REGISTERED))
    peer.send(M(type=M.READY))
    peer.send(M(type=M.KEEPALIVE))
    assert peer.receive().type == M.KEEPALIVE


def test_tls_server(tmp_path: Path, signer: FabricSigner) -> None:
    cert, key = self_signed_localhost()
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "c.key").write_bytes(key)
    server, port = serve(
        "127.0.0.1:0",
        "ledger:abc",
        TlsFiles(tmp_path / "c.pem", tmp_path / "c.key"),
        members=MEMBERS,
        contract=lambda stub, fn, args: b'{"tls":true}',
    )
    try:
        channel = grpc.secure_channel(
            f"127.0.0.1:{port}", grpc.ssl_channel_credentials(root_certificates=cert)
        )
        peer = FakePeer(channel)
        peer.handshake()
        peer.transaction(signer, "history")
        assert _response(peer.receive()).payload == b'{"tls":true}'
        peer.close()
    finally:
        server.stop(grace=None)


def test_messages_larger_than_a_frame_travel_both_ways(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: 64 frames each way

    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        value = stub.get_state("big")
        stub.put_state("copy", value[::-1])
        return value[:10]

    peer = connect(contract)
    peer.handshake()
    tx_id = peer.transaction(signer, "submit", b"{}")
    assert peer.receive().type == M.GET_STATE
    peer.send(M(type=M.RESPONSE, payload=big, txid=tx_id, channel_id="referrals"))
    put = peer.receive()
    assert pb.shim.PutState.FromString(put.payload).value == big[::-1]
    peer.send(M(type=M.RESPONSE, txid=tx_id, channel_id="referrals"))
    assert _response(peer.receive()).payload == big[:10]


def test_transactions_on_one_stream_wait_for_the_peer_side_by_side(
    connect: Callable[[Contract], FakePeer], signer: FabricSigner
) -> None:
    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        return b"seen " + (stub.get_state(args[0].decode()) or b"nothing")

    peer = connect(contract)
    peer.handshake()
    asked = {}
    for name in ("k1", "k2", "k3"):
        tx_id = peer.transaction(signer, "submit", name.encode(), nonce=name.encode() * 8)
        ask = peer.receive()
        assert ask.type == M.GET_STATE
        assert ask.txid == tx_id
        asked[pb.shim.GetState.FromString(ask.payload).key] = tx_id
    # Answered in the other order: each answer resumes its own transaction.
    for name in ("k3", "k1", "k2"):
        tx_id = asked[name]
        peer.send(
            M(type=M.RESPONSE, payload=name.upper().encode(), txid=tx_id, channel_id="referrals")
        )
        done = peer.receive()
        assert done.txid == tx_id
        assert _response(done).payload == b"seen " + name.upper().encode()


def test_a_request_the_peer_leaves_unanswered_fails_its_transaction(
    signer: FabricSigner,
) -> None:
    server, port = serve(
        "127.0.0.1:0",
        "ledger:abc",
        None,
        members=MEMBERS,
        contract=lambda stub, fn, args: stub.get_state("k") or b"{}",
        stub_timeout=0.2,
    )
    try:
        peer = FakePeer(grpc.insecure_channel(f"127.0.0.1:{port}"))
        peer.handshake()
        peer.transaction(signer, "history")
        assert peer.receive().type == M.GET_STATE
        response = _response(peer.receive())  # within about a second
        assert response.status == 500
        assert "no answer from the peer" in response.message
        peer.close()
    finally:
        server.stop(grace=None)


def test_a_peer_that_goes_away_mid_transaction_leaves_the_server_serving(
    signer: FabricSigner,
) -> None:
    finished: list[str] = []

    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        try:
            stub.get_state("k")
        finally:
            finished.append(stub.tx_id)
        return b"{}"

    server, port = serve("127.0.0.1:0", "ledger:abc", None, members=MEMBERS, contract=contract)
    try:
        first = FakePeer(grpc.insecure_channel(f"127.0.0.1:{port}"))
        first.handshake()
        gone = first.transaction(signer, "history")
        assert first.receive().type == M.GET_STATE
        first.close()
        second = FakePeer(grpc.insecure_channel(f"127.0.0.1:{port}"))
        second.handshake()
        tx_id = second.transaction(signer, "history", nonce=b"again" * 5)
        second.receive()
        second.send(M(type=M.RESPONSE, payload=b"v", txid=tx_id, channel_id="referrals"))
        assert _response(second.receive()).status == 200
        second.close()
        assert finished == [gone, tx_id]  # the first ended when its stream did
    finally:
        server.stop(grace=None)


def test_another_method_is_unimplemented() -> None:
    server, port = serve(
        "127.0.0.1:0", "ledger:abc", None, members=MEMBERS, contract=lambda *_: b"{}"
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            other = channel.unary_unary("/protos.Chaincode/Other")
            with pytest.raises(grpc.RpcError) as failure:
                other(b"", timeout=5)
        assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(grace=None)


def _cert(ou: list[str], attrs: dict[str, str] | None = None) -> x509.Certificate:
    return _keyed_cert("AGENCY-A", ou, attrs)[1]


def _keyed_cert(
    org: str, ou: list[str], attrs: dict[str, str] | None = None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate as an organisation's own CA may issue it (self-signed here: the
    peer's MSP checks the chain before the chaincode sees the creator)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
        + [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, u) for u in ou]
        + [x509.NameAttribute(NameOID.COMMON_NAME, "x")]
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if attrs is not None:
        value = json.dumps({"attrs": attrs}).encode()
        builder = builder.add_extension(
            x509.UnrecognizedExtension(FABRIC_CA_ATTRS_OID, value), critical=False
        )
    return key, builder.sign(key, hashes.SHA256())


def test_roles_from_the_ou_or_a_fabric_ca_attribute() -> None:
    assert role_of(_cert(["agency"])) == "agency"
    assert role_of(_cert(["client", "auditor"])) == "auditor"  # Fabric's node OU is ignored
    assert role_of(_cert(["client"], {"role": "donor"})) == "donor"
    with pytest.raises(Exception, match="no single role"):
        role_of(_cert(["client"]))
    with pytest.raises(Exception, match="not one of"):
        role_of(_cert(["agency"], {"role": "admin"}))


def test_identity_is_msp_id_and_role(signer: FabricSigner) -> None:
    assert identity_from_creator(signer.creator, MEMBERS) == Identity("AGENCY-B", "agency")


@pytest.mark.parametrize(
    ("msp", "ou", "attrs", "code"),
    [
        pytest.param("DONOR-Y", "agency", None, "wrong_role", id="its-ca-says-agency"),
        pytest.param("DONOR-Y", "client", {"role": "agency"}, "wrong_role", id="its-ca-attribute"),
        pytest.param("DONOR-Z", "donor", None, "unknown_organisation", id="no-member"),
    ],
)
def test_a_role_its_own_ca_grants_beyond_the_consortiums_is_refused(
    connect: Callable[[Contract], FakePeer],
    msp: str,
    ou: str,
    attrs: dict[str, str] | None,
    code: str,
) -> None:
    """A donor's CA is the donor's own: a certificate it issues saying agency would let
    the donor record assistance, were the role read from the certificate alone."""
    seen: list[Identity] = []

    def contract(stub: Any, function: str, args: Sequence[bytes]) -> bytes:
        seen.append(stub.creator)
        return b"{}"

    key, cert = _keyed_cert(msp, [ou], attrs)
    peer = connect(contract)
    peer.handshake()
    peer.transaction(FabricSigner(msp, cert_pem(cert), key), "submit", b"{}")
    response = _response(peer.receive())
    assert response.status == 400
    assert json.loads(response.message)["code"] == code
    assert seen == []


def test_an_identity_is_one_pem_certificate_and_nothing_else() -> None:
    """Fabric's MSP checks the first PEM block whatever its label; a parser that skips
    to the first CERTIFICATE block would give the contract another certificate: a
    donor's real one under another label, then one it made itself saying auditor."""
    real = _cert(["donor"]).public_bytes(serialization.Encoding.PEM)
    relabelled = real.replace(b"CERTIFICATE", b"X")
    forged = _cert(["auditor"]).public_bytes(serialization.Encoding.PEM)
    for id_bytes in (relabelled + forged, real + forged, b"junk\n" + forged):
        creator = pb.identities.SerializedIdentity(mspid="DONOR-Y", id_bytes=id_bytes)
        with pytest.raises(ForbiddenError) as caught:
            identity_from_creator(creator.SerializeToString(), MEMBERS)
        assert caught.value.code == "bad_certificate"
    alone = pb.identities.SerializedIdentity(mspid="DONOR-Y", id_bytes=real)
    assert identity_from_creator(alone.SerializeToString(), MEMBERS) == Identity("DONOR-Y", "donor")


def test_a_chaincode_server_without_the_consortium_file_does_not_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHAINCODE_CONSORTIUM", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["--address", "127.0.0.1:0", "--id", "ledger:abc", "--insecure"])
    assert exited.value.code == 2
    assert "consortium file" in capsys.readouterr().err
