"""Fabric's failures, mapped onto the library's error tree with messages a person can act on.

The peer gateway reports chaincode rejections as gRPC errors whose `gateway.ErrorDetail`s
carry each endorser's message ("chaincode response 400, {...}"); the contract's JSON error
is found there and becomes the same refusal the embedded ledger raises. Every other gRPC
status, and every validation code a committing peer gives, is mapped to a class below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import status_pb2

from ledger_gw import protos as pb
from ledger_gw.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    LedgerError,
    RejectedError,
    StaleReadError,
    UnavailableError,
)

RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
PAYLOAD_MISMATCH = "ProposalResponsePayloads do not match"
DUPLICATE_TX = "duplicate transaction found"


class DuplicateTransactionError(ConflictError):
    """The peer already holds a transaction with this ID: it was submitted before."""

    code = "duplicate_txid"


@dataclass(frozen=True)
class Detail:
    address: str
    msp_id: str
    message: str


@dataclass(frozen=True)
class GatewayFailure:
    """One failed Gateway call: the gRPC status and the endorsers' details."""

    code: grpc.StatusCode
    message: str
    details: tuple[Detail, ...]

    def text(self) -> str:
        parts = [self.message, *(f"{d.msp_id}@{d.address}: {d.message}" for d in self.details)]
        return "; ".join(p for p in parts if p)

    @property
    def retryable(self) -> bool:
        """Nothing reached the ledger and another attempt may succeed with the same bytes."""
        if self.code in RETRYABLE_CODES:
            return True
        return self.code == grpc.StatusCode.ABORTED and PAYLOAD_MISMATCH in self.text()


def decode_status_details(blob: bytes) -> tuple[Detail, ...]:
    """The `grpc-status-details-bin` trailer: a google.rpc.Status holding ErrorDetails."""
    status = status_pb2.Status.FromString(blob)
    out = []
    for item in status.details:
        detail = pb.gateway.ErrorDetail()
        if item.Unpack(detail):
            out.append(Detail(detail.address, detail.msp_id, detail.message))
    return tuple(out)


def failure_of(error: grpc.RpcError) -> GatewayFailure:
    call: Any = error
    code = call.code() if callable(getattr(call, "code", None)) else grpc.StatusCode.UNKNOWN
    message = call.details() if callable(getattr(call, "details", None)) else str(error)
    details: tuple[Detail, ...] = ()
    trailers = (
        call.trailing_metadata() if callable(getattr(call, "trailing_metadata", None)) else None
    )
    for key, value in trailers or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            details = decode_status_details(value)
    return GatewayFailure(code, message or "", details)


def contract_error_in(text: str) -> dict[str, Any] | None:
    """The contract's JSON error, if one is embedded in a peer's message."""
    start = text.find('{"')
    while start != -1:
        try:
            data, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            data = None
        if isinstance(data, dict) and {"kind", "code", "message"} <= data.keys():
            return data
        start = text.find('{"', start + 1)
    return None


def to_ledger_error(failure: GatewayFailure, what: str) -> LedgerError:
    """The error a caller of the Ledger protocol sees for a failed Gateway call."""
    for text in (*(d.message for d in failure.details), failure.message):
        data = contract_error_in(text)
        if data is not None:
            return RejectedError.from_contract(data)
    text = failure.text()
    if DUPLICATE_TX in text:
        return DuplicateTransactionError(f"{what}: this transaction was already submitted: {text}")
    if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION):
        lowered = text.lower()
        if "access denied" in lowered or "creator" in lowered or "signature" in lowered:
            return AuthenticationError(f"{what} refused: {text}", code="access_denied")
        if failure.code == grpc.StatusCode.PERMISSION_DENIED:
            return ForbiddenError(f"{what} refused: {text}", code="permission_denied")
        return RejectedError(f"{what} refused: {text}", code="precondition_failed")
    if failure.code == grpc.StatusCode.ABORTED and PAYLOAD_MISMATCH in text:
        return UnavailableError(
            f"{what}: endorsing peers disagree (different ledger heights?): {text}",
            code="endorsement_mismatch",
        )
    if failure.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return UnavailableError(f"{what} timed out: {text}", code="fabric_timeout")
    if failure.code == grpc.StatusCode.UNAVAILABLE:
        return UnavailableError(
            f"{what}: Fabric peer unreachable: {text}", code="fabric_unavailable"
        )
    return UnavailableError(f"{what} failed ({failure.code.name}): {text}", code="fabric_error")


#: Fabric's transaction validation codes (peer.TxValidationCode) that mean more than
#: "invalid": the refusal each is, and what to tell the caller.
VALIDATION_CODES: dict[str, tuple[type[RejectedError], str]] = {
    "MVCC_READ_CONFLICT": (
        StaleReadError,
        "another transaction changed what this one read; resubmit",
    ),
    "PHANTOM_READ_CONFLICT": (StaleReadError, "a range this transaction read changed; resubmit"),
    "ENDORSEMENT_POLICY_FAILURE": (
        ForbiddenError,
        "the endorsements do not satisfy the endorsement policy",
    ),
    "BAD_CREATOR_SIGNATURE": (AuthenticationError, "the creator's signature does not verify"),
    "DUPLICATE_TXID": (DuplicateTransactionError, "this transaction ID was already committed"),
}


def validation_error(code_name: str, tx_id: str) -> RejectedError:
    """A transaction the peers ordered but marked invalid: nothing it wrote took effect."""
    refusal, explain = VALIDATION_CODES.get(
        code_name, (RejectedError, "the committing peer marked the transaction invalid")
    )
    return refusal(f"transaction {tx_id} is {code_name}: {explain}", code=code_name.lower())
