"""FabricLedger against a fake Gateway service (real gRPC over TLS, in process).

Checks the call sequence Endorse → Submit → CommitStatus, that retries resend the very
same signed bytes (same transaction ID, same content), that an MVCC conflict becomes a
new transaction, that idempotent replays are not ordered, and that Fabric's errors,
with their ErrorDetails, land in the library's error tree.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2

from ledger_gw import protos as pb
from ledger_gw.client import OrgClient
from ledger_gw.errors import RejectedError, UnavailableError
from ledger_gw.fabric.errors import (
    GatewayFailure,
    contract_error_in,
    decode_status_details,
    to_ledger_error,
)
from ledger_gw.fabric.gateway import FabricLedger, FabricProfile, PeerEndpoint, Retry
from ledger_gw.fabric.proposal import read_proposal
from ledger_gw.identity import Signer, cert_pem, issue_ca, issue_member
from tests.support.tls import self_signed_localhost

CONTRACT_ERROR = (
    '{"code":"missing_field","field":"type","kind":"validation","message":"type is required"}'
)


def _details(*messages: str) -> bytes:
    status = status_pb2.Status(code=10, message="failed")
    for m in messages:
        status.details.add().Pack(
            pb.gateway.ErrorDetail(address="p:1", msp_id="AGENCY-A", message=m)
        )
    return bytes(status.SerializeToString())


def test_error_details_are_decoded() -> None:
    details = decode_status_details(_details("chaincode response 400, " + CONTRACT_ERROR))
    assert details[0].msp_id == "AGENCY-A"
    assert contract_error_in(details[0].message) == json.loads(CONTRACT_ERROR)
    assert contract_error_in("no json {here") is None


def test_errors_map_onto_the_library_tree() -> None:
    def failure(code: grpc.StatusCode, message: str, *details: str) -> GatewayFailure:
        return GatewayFailure(code, message, decode_status_details(_details(*details)))

    rejected = to_ledger_error(
        failure(
            grpc.StatusCode.ABORTED,
            "failed to endorse",
            "chaincode response 400, " + CONTRACT_ERROR,
        ),
        "endorse",
    )
    assert isinstance(rejected, RejectedError)
    assert (rejected.kind, rejected.code, rejected.field) == ("validation", "missing_field", "type")
    mismatch = failure(grpc.StatusCode.ABORTED, "failed", "ProposalResponsePayloads do not match")
    assert mismatch.retryable
    error = to_ledger_error(mismatch, "endorse")
    assert isinstance(error, UnavailableError)
    assert error.code == "endorsement_mismatch"
    denied = to_ledger_error(
        failure(grpc.StatusCode.FAILED_PRECONDITION, "access denied: creator org unknown"),
        "evaluate",
    )
    assert isinstance(denied, RejectedError)
    assert denied.code == "access_denied"
    assert failure(grpc.StatusCode.UNAVAILABLE, "down").retryable
    assert not failure(grpc.StatusCode.UNKNOWN, "chaincode response 500").retryable


@dataclass
class FakeGateway:
    """Scripted Gateway: `endorse_errors` / `commit_codes` are consumed call by call."""

    writes: int = 1
    endorse_errors: list[tuple[grpc.StatusCode, str, bytes]] = field(default_factory=list)
    submit_errors: list[grpc.StatusCode] = field(default_factory=list)
    commit_codes: list[int] = field(default_factory=list)
    calls: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, tx id, bytes)
    heights: list[int] = field(default_factory=list)  # qscc GetChainInfo answers, in turn
    height_delay: float = 0.0  # how long the peer takes to answer GetChainInfo

    def _result(self, proposal_bytes: bytes) -> bytes:
        view = read_proposal(proposal_bytes)
        return json.dumps({"tx_id": view.tx_id, "fn": view.args[0].decode()}).encode()

    def evaluate(self, request: Any, context: Any) -> Any:
        self.calls.append(
            ("Evaluate", request.transaction_id, request.proposed_transaction.proposal_bytes)
        )
        payload = self._result(request.proposed_transaction.proposal_bytes)
        if json.loads(payload)["fn"] == "GetChainInfo":
            time.sleep(self.height_delay)
            info = pb.common_ledger.BlockchainInfo(height=self.heights.pop(0))
            payload = info.SerializeToString()
        return pb.gateway.EvaluateResponse(
            result=pb.proposal_response.Response(status=200, payload=payload)
        )

    def endorse(self, request: Any, context: Any) -> Any:
        signed = request.proposed_transaction
        self.calls.append(
            ("Endorse", request.transaction_id, signed.proposal_bytes + signed.signature)
        )
        if self.endorse_errors:
            code, message, details = self.endorse_errors.pop(0)
            context.set_trailing_metadata((("grpc-status-details-bin", details),))
            context.abort(code, message)
        kv = pb.kvrwset.KVRWSet(writes=[pb.kvrwset.KVWrite(key="k", value=b"v")] * self.writes)
        rws = pb.rwset.TxReadWriteSet(
            ns_rwset=[pb.rwset.NsReadWriteSet(namespace="ledger", rwset=kv.SerializeToString())]
        )
        action = pb.proposal.ChaincodeAction(
            results=rws.SerializeToString(),
            response=pb.proposal_response.Response(
                status=200, payload=self._result(signed.proposal_bytes)
            ),
        )
        prp = pb.proposal_response.ProposalResponsePayload(extension=action.SerializeToString())
        cap = pb.transaction.ChaincodeActionPayload(
            action=pb.transaction.ChaincodeEndorsedAction(
                proposal_response_payload=prp.SerializeToString()
            )
        )
        tx = pb.transaction.Transaction(
            actions=[pb.transaction.TransactionAction(payload=cap.SerializeToString())]
        )
        payload = pb.common.Payload(data=tx.SerializeToString()).SerializeToString()
        return pb.gateway.EndorseResponse(prepared_transaction=pb.common.Envelope(payload=payload))

    def submit(self, request: Any, context: Any) -> Any:
        self.calls.append(("Submit", request.transaction_id, request.prepared_transaction.payload))
        if self.submit_errors:
            context.abort(self.submit_errors.pop(0), "orderer unreachable")
        return pb.gateway.SubmitResponse()

    def commit_status(self, request: Any, context: Any) -> Any:
        inner = pb.gateway.CommitStatusRequest.FromString(request.request)
        self.calls.append(("CommitStatus", inner.transaction_id, b""))
        code = self.commit_codes.pop(0) if self.commit_codes else 0
        return pb.gateway.CommitStatusResponse(result=code, block_number=7)


@pytest.fixture(scope="module")
def signer() -> Signer:
    ca_key, ca_cert = issue_ca("AGENCY-A")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", "gw")
    return Signer(key, cert_pem(cert))


@pytest.fixture
def fabric(signer: Signer) -> Iterator[Callable[..., OrgClient]]:
    servers: list[grpc.Server] = []
    ledgers: list[FabricLedger] = []
    cert, key = self_signed_localhost()

    def make(fake: FakeGateway, others: Mapping[str, Signer] | None = None) -> OrgClient:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))

        def unary(fn: Callable[[Any, Any], Any], req: Any, resp: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.FromString, response_serializer=resp.SerializeToString
            )

        g = pb.gateway
        handler = grpc.method_handlers_generic_handler(
            "gateway.Gateway",
            {
                "Evaluate": unary(fake.evaluate, g.EvaluateRequest, g.EvaluateResponse),
                "Endorse": unary(fake.endorse, g.EndorseRequest, g.EndorseResponse),
                "Submit": unary(fake.submit, g.SubmitRequest, g.SubmitResponse),
                "CommitStatus": unary(
                    fake.commit_status, g.SignedCommitStatusRequest, g.CommitStatusResponse
                ),
            },
        )
        server.add_generic_rpc_handlers((handler,))
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
        server.start()
        servers.append(server)
        profile = FabricProfile(
            channel="referrals",
            chaincode="ledger",
            peers={"AGENCY-A": PeerEndpoint(f"127.0.0.1:{port}", cert)},
            default_peer="AGENCY-A",
        )
        ledger = FabricLedger(
            profile,
            {"AGENCY-A": signer, **(others or {})},
            retry=Retry(3, 0.0),
            sleep=lambda _: None,
        )
        ledgers.append(ledger)
        return OrgClient(ledger, signer)

    yield make
    for ledger in ledgers:
        ledger.close()
    for server in servers:
        server.stop(grace=None)


def test_submit_endorses_submits_and_waits_for_the_commit(
    fabric: Callable[[FakeGateway], OrgClient],
) -> None:
    fake = FakeGateway()
    [outcome] = fabric(fake).submit_many([{"event": 1}])
    assert [c[0] for c in fake.calls] == ["Endorse", "Submit", "CommitStatus"]
    assert {c[1] for c in fake.calls} == {outcome.tx_id}
    assert outcome.result == {"tx_id": outcome.tx_id, "fn": "submit"}
    assert outcome.position == 7


def test_endorsement_retries_resend_identical_bytes(
    fabric: Callable[[FakeGateway], OrgClient],
) -> None:
    mismatch = (
        grpc.StatusCode.ABORTED,
        "failed to collect enough transaction endorsements",
        _details("ProposalResponsePayloads do not match"),
    )
    fake = FakeGateway(
        endorse_errors=[mismatch, (grpc.StatusCode.UNAVAILABLE, "peer down", b"")],
        submit_errors=[grpc.StatusCode.UNAVAILABLE],
    )
    fabric(fake).submit({"event": 1})
    endorsements = [c for c in fake.calls if c[0] == "Endorse"]
    submissions = [c for c in fake.calls if c[0] == "Submit"]
    assert len(endorsements) == 3
    assert len({(c[1], c[2]) for c in endorsements}) == 1
    assert len(submissions) == 2
    assert len({(c[1], c[2]) for c in submissions}) == 1


def test_an_mvcc_conflict_is_resubmitted_as_a_new_transaction(
    fabric: Callable[[FakeGateway], OrgClient],
) -> None:
    fake = FakeGateway(commit_codes=[11, 0])  # MVCC_READ_CONFLICT, then VALID
    [outcome] = fabric(fake).submit_many([{"event": 1}])
    tx_ids = [c[1] for c in fake.calls if c[0] == "Endorse"]
    assert len(tx_ids) == 2
    assert tx_ids[0] != tx_ids[1] == outcome.tx_id
    assert outcome.error is None


def test_a_duplicate_transaction_id_is_asked_again_under_a_new_one(
    fabric: Callable[[FakeGateway], OrgClient],
) -> None:
    duplicate = (
        grpc.StatusCode.FAILED_PRECONDITION,
        "error validating proposal: duplicate transaction found [ab]. Creator [0a]",
        b"",
    )
    fake = FakeGateway(endorse_errors=[duplicate], writes=0)
    [outcome] = fabric(fake).submit_many([{"event": 1}])
    tx_ids = [c[1] for c in fake.calls if c[0] == "Endorse"]
    assert len(tx_ids) == 2
    assert tx_ids[0] != tx_ids[1]
    assert outcome.error is None


def test_other_invalid_transactions_are_rejections(
    fabric: Callable[[FakeGateway], OrgClient],
) -> None:
    [outcome] = fabric(FakeGateway(commit_codes=[10])).submit_many([{"event": 1}])
    assert isinstance(outcome.error, RejectedError)
    assert outcome.error.code == "endorsement_policy_failure"


def test_a_replay_that_writes_nothing_is_not_ordered(
    fabric: Callable[[FakeGateway], OrgClient],
) -> None:
    fake = FakeGateway(writes=0)
    [outcome] = fabric(fake).submit_many([{"event": 1}])
    assert [c[0] for c in fake.calls] == ["Endorse"]
    assert outcome.position is None
    assert outcome.result is not None


def test_contract_rejection_and_persistent_unavailability(
    fabric: Callable[[FakeGateway], OrgClient],
) -> None:
    rejection = (
        grpc.StatusCode.ABORTED,
        "failed to endorse transaction",
        _details("chaincode response 400, " + CONTRACT_ERROR),
    )
    [outcome] = fabric(FakeGateway(endorse_errors=[rejection])).submit_many([{"event": 1}])
    assert isinstance(outcome.error, RejectedError)
    assert outcome.error.code == "missing_field"
    down = [(grpc.StatusCode.UNAVAILABLE, "peer down", b"")] * 3
    with pytest.raises(UnavailableError, match="unreachable"):
        fabric(FakeGateway(endorse_errors=down)).submit({"event": 1})


def test_evaluate_and_unknown_identities(fabric: Callable[[FakeGateway], OrgClient]) -> None:
    client = fabric(FakeGateway())
    assert client.query("history", "h.x", "referral")["fn"] == "history"
    ca_key, ca_cert = issue_ca("AGENCY-Z")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-Z", "agency", "gw")
    stranger = OrgClient(client.ledger, Signer(key, cert_pem(cert)))
    [outcome] = stranger.submit_many([{"event": 1}])
    assert isinstance(outcome.error, RejectedError)
    assert outcome.error.code == "unknown_identity"


def test_a_height_read_after_a_write_covers_that_write(
    fabric: Callable[..., OrgClient],
) -> None:
    """Another member's peer may be a block behind the submitter's for a moment: the
    height read through it waits for the block this client saw committed."""
    ca_key, ca_cert = issue_ca("AGENCY-B")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-B", "agency", "gw")
    fake = FakeGateway(heights=[7, 7, 8, 8])
    client = fabric(fake, {"AGENCY-B": Signer(key, cert_pem(cert))})
    client.submit({"event": 1})  # committed in block 7: height 8
    assert client.ledger.height("AGENCY-B") == 8
    assert fake.heights == []


def test_a_write_after_another_members_write_is_endorsed_where_that_write_is(
    fabric: Callable[..., OrgClient],
) -> None:
    """A referral accepted right after another member created it: the accepting member's
    peer runs the contract only once it holds the block this client saw committed."""
    ca_key, ca_cert = issue_ca("AGENCY-B")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-B", "agency", "gw")
    b = Signer(key, cert_pem(cert))
    fake = FakeGateway(heights=[7, 8])  # AGENCY-B's peer: a block behind, then caught up
    client = fabric(fake, {"AGENCY-B": b})
    client.submit({"event": 1})  # committed in block 7 by AGENCY-A
    OrgClient(client.ledger, b).submit({"event": 2})
    methods = [method for method, _, _ in fake.calls]
    assert methods[3:] == ["Evaluate", "Evaluate", "Endorse", "Submit", "CommitStatus"]
    assert fake.heights == []


def test_writers_waiting_on_the_same_peer_share_one_height_query(
    fabric: Callable[..., OrgClient],
) -> None:
    """Under load every write may find another member's peer a block behind: the writers
    waiting on it at the same time take one answer, not one query each."""
    ca_key, ca_cert = issue_ca("AGENCY-B")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-B", "agency", "gw")
    b = Signer(key, cert_pem(cert))
    fake = FakeGateway(heights=[8] * 8, height_delay=0.3)
    client = fabric(fake, {"AGENCY-B": b})
    client.submit({"event": 0})  # committed in block 7 by AGENCY-A
    writers = [
        threading.Thread(target=OrgClient(client.ledger, b).submit, args=({"event": n},))
        for n in range(1, 9)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    methods = [method for method, _, _ in fake.calls]
    assert methods.count("Evaluate") == 1
    assert methods.count("CommitStatus") == 9
    assert len(fake.heights) == 7
