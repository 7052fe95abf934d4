"""Proposal building, transaction IDs, low-S signatures and response parsing, on known values."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ledger_gw import protos as pb
from ledger_gw.fabric.proposal import (
    FabricSigner,
    build_proposal,
    proposer,
    read_prepared_transaction,
    read_proposal,
    read_proposal_response_payload,
    serialized_identity,
    sign_envelope,
    signed_commit_status_request,
    transaction_id,
)
from ledger_gw.identity import P256_ORDER, cert_pem, issue_ca, issue_member

NONCE = bytes(range(24))
WHEN = dt.datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=dt.UTC)


def test_serialized_identity_is_the_msp_protobuf() -> None:
    # field 1 (mspid) "AGENCY-A", field 2 (id_bytes) "CERT", in protobuf wire format
    assert serialized_identity("AGENCY-A", b"CERT") == bytes.fromhex(
        "0a08" + b"AGENCY-A".hex() + "1204" + b"CERT".hex()
    )


def test_transaction_id_is_sha256_of_nonce_and_creator() -> None:
    creator = serialized_identity("AGENCY-A", b"CERT")
    assert transaction_id(NONCE, creator) == (
        "2ab06138396aff226c0328ba84c4b94d6c3e0c7ecd11ecee1794243629993720"
    )
    assert transaction_id(NONCE, creator) == hashlib.sha256(NONCE + creator).hexdigest()


@pytest.fixture(scope="module")
def signer() -> FabricSigner:
    ca_key, ca_cert = issue_ca("AGENCY-A")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", "gw")
    return FabricSigner("AGENCY-A", cert_pem(cert), key)


def test_proposal_round_trip_and_determinism(signer: FabricSigner) -> None:
    kwargs = {
        "creator": signer.creator,
        "channel": "referrals",
        "chaincode": "ledger",
        "function": "submit",
        "args": [b'{"a":1}'],
        "nonce": NONCE,
        "timestamp": WHEN,
    }
    built = build_proposal(**kwargs)  # type: ignore[arg-type]
    assert build_proposal(**kwargs).proposal_bytes == built.proposal_bytes  # type: ignore[arg-type]
    view = read_proposal(built.proposal_bytes)
    assert view.tx_id == built.tx_id == transaction_id(NONCE, signer.creator)
    assert view.channel == "referrals"
    assert view.chaincode == "ledger"
    assert view.timestamp == WHEN
    assert view.creator == signer.creator
    assert view.nonce == NONCE
    assert view.args == [b"submit", b'{"a":1}']
    assert proposer(built.proposal_bytes) == (WHEN, signer.creator)  # what the chaincode reads
    header = pb.common.Header.FromString(
        pb.proposal.Proposal.FromString(built.proposal_bytes).header
    )
    assert pb.common.ChannelHeader.FromString(header.channel_header).type == 3  # ENDORSER_TX


def test_signatures_are_low_s_and_verify(signer: FabricSigner) -> None:
    built = build_proposal(
        creator=signer.creator,
        channel="c",
        chaincode="ledger",
        function="history",
        args=[],
        nonce=NONCE,
        timestamp=WHEN,
    )
    public = signer.key.public_key()
    for _ in range(40):  # about half of raw ECDSA signatures are high-S
        signed = built.signed(signer)
        _, s = decode_dss_signature(signed.signature)
        assert s <= P256_ORDER // 2
        public.verify(signed.signature, built.proposal_bytes, ec.ECDSA(hashes.SHA256()))


def _prp(writes: int, status: int = 200, event: str = "") -> bytes:
    kv = pb.kvrwset.KVRWSet(
        writes=[pb.kvrwset.KVWrite(key=f"k{i}", value=b"v") for i in range(writes)]
    )
    rws = pb.rwset.TxReadWriteSet(
        data_model=0,
        ns_rwset=[pb.rwset.NsReadWriteSet(namespace="ledger", rwset=kv.SerializeToString())],
    )
    action = pb.proposal.ChaincodeAction(
        results=rws.SerializeToString(),
        events=pb.chaincode_event.ChaincodeEvent(event_name=event).SerializeToString()
        if event
        else b"",
        response=pb.proposal_response.Response(status=status, payload=b'{"ok":true}'),
    )
    return bytes(
        pb.proposal_response.ProposalResponsePayload(
            proposal_hash=b"h", extension=action.SerializeToString()
        ).SerializeToString()
    )


def test_response_parsing_counts_writes_and_reads_the_event() -> None:
    out = read_proposal_response_payload(_prp(2, event="referral.created"))
    assert (out.status, out.payload, out.writes, out.event_name) == (
        200,
        b'{"ok":true}',
        2,
        "referral.created",
    )
    assert read_proposal_response_payload(_prp(0)).writes == 0


def test_prepared_transaction_parsing_and_envelope_signing(signer: FabricSigner) -> None:
    cap = pb.transaction.ChaincodeActionPayload(
        action=pb.transaction.ChaincodeEndorsedAction(proposal_response_payload=_prp(1))
    )
    tx = pb.transaction.Transaction(
        actions=[pb.transaction.TransactionAction(payload=cap.SerializeToString())]
    )
    envelope = pb.common.Envelope(
        payload=pb.common.Payload(data=tx.SerializeToString()).SerializeToString()
    )
    assert read_prepared_transaction(envelope).writes == 1
    signed = sign_envelope(envelope, signer)
    signer.key.public_key().verify(signed.signature, signed.payload, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(ValueError, match="no action"):
        read_prepared_transaction(
            pb.common.Envelope(payload=pb.common.Payload(data=b"").SerializeToString())
        )


def test_commit_status_request_is_signed_by_the_creator(signer: FabricSigner) -> None:
    signed = signed_commit_status_request("referrals", "ab" * 32, signer)
    request = pb.gateway.CommitStatusRequest.FromString(signed.request)
    assert (request.transaction_id, request.channel_id) == ("ab" * 32, "referrals")
    assert request.identity == signer.creator
    signer.key.public_key().verify(signed.signature, signed.request, ec.ECDSA(hashes.SHA256()))


def test_naive_timestamps_are_refused(signer: FabricSigner) -> None:
    with pytest.raises(ValueError, match="timezone"):
        build_proposal(
            creator=signer.creator,
            channel="c",
            chaincode="ledger",
            function="f",
            args=[],
            nonce=NONCE,
            timestamp=dt.datetime(2026, 1, 1),
        )
