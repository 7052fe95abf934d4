"""Fabric proposals and envelopes, built and signed as the official Gateway clients do.

The creator is a serialized `msp.SerializedIdentity` (MSP ID + PEM certificate); the
transaction ID is hex SHA-256(nonce ‖ creator), so it is fixed before anything is sent
and a retry of the same signed bytes can never carry other content. Signatures are
ECDSA P-256 over SHA-256, DER, low-S (`ledger_gw.identity.sign_low_s`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.timestamp_pb2 import Timestamp

from ledger_gw import protos as pb
from ledger_gw.identity import sign_low_s

NONCE_BYTES = 24
ENDORSER_TRANSACTION = 3  # common.HeaderType


def serialized_identity(msp_id: str, cert_pem: str | bytes) -> bytes:
    pem = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    return bytes(pb.identities.SerializedIdentity(mspid=msp_id, id_bytes=pem).SerializeToString())


def transaction_id(nonce: bytes, creator: bytes) -> str:
    return hashlib.sha256(nonce + creator).hexdigest()


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


@dataclass(frozen=True)
class FabricSigner:
    """A member of a Fabric organisation: its MSP ID, certificate and private key."""

    msp_id: str
    cert_pem: str
    key: ec.EllipticCurvePrivateKey

    @property
    def creator(self) -> bytes:
        return serialized_identity(self.msp_id, self.cert_pem)

    def sign(self, data: bytes) -> bytes:
        return sign_low_s(self.key, data)


def _timestamp(when: dt.datetime) -> Any:
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(dt.UTC))
    return ts


@dataclass(frozen=True)
class BuiltProposal:
    tx_id: str
    proposal_bytes: bytes

    def signed(self, signer: FabricSigner) -> Any:
        return pb.proposal.SignedProposal(
            proposal_bytes=self.proposal_bytes, signature=signer.sign(self.proposal_bytes)
        )


def build_proposal(
    *,
    creator: bytes,
    channel: str,
    chaincode: str,
    function: str,
    args: Sequence[bytes],
    nonce: bytes,
    timestamp: dt.datetime,
    transient: Mapping[str, bytes] | None = None,
) -> BuiltProposal:
    """An unsigned chaincode proposal; the same inputs always give the same bytes."""
    tx_id = transaction_id(nonce, creator)
    extension = pb.proposal.ChaincodeHeaderExtension(
        chaincode_id=pb.chaincode.ChaincodeID(name=chaincode)
    )
    channel_header = pb.common.ChannelHeader(
        type=ENDORSER_TRANSACTION,
        channel_id=channel,
        tx_id=tx_id,
        timestamp=_timestamp(timestamp),
        extension=extension.SerializeToString(),
    )
    signature_header = pb.common.SignatureHeader(creator=creator, nonce=nonce)
    header = pb.common.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )
    invocation = pb.chaincode.ChaincodeInvocationSpec(
        chaincode_spec=pb.chaincode.ChaincodeSpec(
            chaincode_id=pb.chaincode.ChaincodeID(name=chaincode),
            input=pb.chaincode.ChaincodeInput(args=[function.encode(), *args]),
        )
    )
    payload = pb.proposal.ChaincodeProposalPayload(
        input=invocation.SerializeToString(), TransientMap=dict(transient or {})
    )
    proposal = pb.proposal.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return BuiltProposal(tx_id, bytes(proposal.SerializeToString(deterministic=True)))


@dataclass(frozen=True)
class ProposalView:
    """What a signed proposal says, as the chaincode and the tests read it back."""

    tx_id: str
    channel: str
    timestamp: dt.datetime
    creator: bytes
    nonce: bytes
    chaincode: str
    args: list[bytes]


def _headers(proposal: Any) -> tuple[Any, Any]:
    header = pb.common.Header.FromString(proposal.header)
    channel_header = pb.common.ChannelHeader.FromString(header.channel_header)
    return channel_header, pb.common.SignatureHeader.FromString(header.signature_header)


def proposer(proposal_bytes: bytes) -> tuple[dt.datetime, bytes]:
    """When and by whom a proposal was made: all the chaincode needs of it (its
    arguments come beside it), read from four messages rather than seven."""
    channel_header, signature_header = _headers(pb.proposal.Proposal.FromString(proposal_bytes))
    return channel_header.timestamp.ToDatetime(tzinfo=dt.UTC), bytes(signature_header.creator)


def read_proposal(proposal_bytes: bytes) -> ProposalView:
    proposal = pb.proposal.Proposal.FromString(proposal_bytes)
    channel_header, signature_header = _headers(proposal)
    extension = pb.proposal.ChaincodeHeaderExtension.FromString(channel_header.extension)
    payload = pb.proposal.ChaincodeProposalPayload.FromString(proposal.payload)
    invocation = pb.chaincode.ChaincodeInvocationSpec.FromString(payload.input)
    return ProposalView(
        tx_id=channel_header.tx_id,
        channel=channel_header.channel_id,
        timestamp=channel_header.timestamp.ToDatetime(tzinfo=dt.UTC),
        creator=bytes(signature_header.creator),
        nonce=bytes(signature_header.nonce),
        chaincode=extension.chaincode_id.name,
        args=[bytes(a) for a in invocation.chaincode_spec.input.args],
    )


@dataclass(frozen=True)
class ChaincodeOutcome:
    """The chaincode's response inside a prepared transaction, and whether it wrote."""

    status: int
    message: str
    payload: bytes
    writes: int  # number of keys written (all namespaces)
    event_name: str


def read_prepared_transaction(envelope: Any) -> ChaincodeOutcome:
    """Dig the endorsed chaincode response out of an Envelope the gateway prepared."""
    payload = pb.common.Payload.FromString(envelope.payload)
    tx = pb.transaction.Transaction.FromString(payload.data)
    if not tx.actions:
        raise ValueError("prepared transaction holds no action")
    action = pb.transaction.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    return read_proposal_response_payload(action.action.proposal_response_payload)


def read_proposal_response_payload(data: bytes) -> ChaincodeOutcome:
    prp = pb.proposal_response.ProposalResponsePayload.FromString(data)
    cc_action = pb.proposal.ChaincodeAction.FromString(prp.extension)
    writes = 0
    if cc_action.results:
        rws = pb.rwset.TxReadWriteSet.FromString(cc_action.results)
        for ns in rws.ns_rwset:
            kv = pb.kvrwset.KVRWSet.FromString(ns.rwset)
            writes += len(kv.writes)
    name = ""
    if cc_action.events:
        name = pb.chaincode_event.ChaincodeEvent.FromString(cc_action.events).event_name
    return ChaincodeOutcome(
        status=cc_action.response.status,
        message=cc_action.response.message,
        payload=bytes(cc_action.response.payload),
        writes=writes,
        event_name=name,
    )


def sign_envelope(envelope: Any, signer: FabricSigner) -> Any:
    return pb.common.Envelope(payload=envelope.payload, signature=signer.sign(envelope.payload))


def signed_commit_status_request(channel: str, tx_id: str, signer: FabricSigner) -> Any:
    request = pb.gateway.CommitStatusRequest(
        transaction_id=tx_id, channel_id=channel, identity=signer.creator
    ).SerializeToString()
    return pb.gateway.SignedCommitStatusRequest(request=request, signature=signer.sign(request))


def signed_chaincode_events_request(
    channel: str, chaincode: str, signer: FabricSigner, start_block: int | None = None
) -> Any:
    start = pb.orderer_ab.SeekPosition()
    if start_block is None:
        start.newest.SetInParent()
    else:
        start.specified.number = start_block
    request = pb.gateway.ChaincodeEventsRequest(
        channel_id=channel, chaincode_id=chaincode, identity=signer.creator, start_position=start
    ).SerializeToString()
    return pb.gateway.SignedChaincodeEventsRequest(request=request, signature=signer.sign(request))
