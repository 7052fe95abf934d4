"""The error tree and its one mapping to HTTP: every class's status, what a client may
read of it, the contract's errors by kind, and anything unexpected told as nothing."""

from __future__ import annotations

import logging

import grpc
import pytest
from werkzeug.exceptions import BadRequest, NotFound, UnprocessableEntity

import chaincode.errors as contract
from api.errors import problem_for
from ledger_gw.errors import (
    AuditError,
    AuditFailedError,
    AuthenticationError,
    ConfigError,
    ConflictError,
    EvidenceError,
    FaultError,
    ForbiddenError,
    IntegrityError,
    InternalError,
    LedgerError,
    LogInconsistentError,
    NotFoundError,
    RejectedError,
    StaleReadError,
    TransitionError,
    UnavailableError,
    UnsupportedError,
    ValidationError,
    of_kind,
)
from ledger_gw.fabric.errors import (
    DuplicateTransactionError,
    GatewayFailure,
    to_ledger_error,
    validation_error,
)
from ledger_gw.log.checkpoint import CheckpointError
from ledger_gw.log.merkle import ProofError
from ledger_gw.log.note import NoteError
from ledger_gw.pseudonym import PseudonymError
from ledger_gw.reports.accountability import ReportError

SECRET = "postgresql://ledger:hunter2@10.0.0.7/ledger"

STATUS = {
    RejectedError: 422,
    ValidationError: 422,
    PseudonymError: 422,
    AuditError: 422,
    AuthenticationError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    TransitionError: 409,
    StaleReadError: 409,
    DuplicateTransactionError: 409,
    UnsupportedError: 501,
    FaultError: 500,
    ConfigError: 500,
    InternalError: 500,
    IntegrityError: 500,
    EvidenceError: 500,
    NoteError: 500,
    CheckpointError: 500,
    ProofError: 500,
    ReportError: 500,
    AuditFailedError: 500,
    LogInconsistentError: 500,
    UnavailableError: 503,
    LedgerError: 500,
}


@pytest.mark.parametrize("cls", list(STATUS), ids=lambda c: c.__name__)
def test_every_class_has_its_status_and_keeps_its_code(cls: type[LedgerError]) -> None:
    found = problem_for(cls("what happened", code="precise_code"))
    assert (found.status, found.code) == (STATUS[cls], "precise_code")
    body = found.body("/v1/x")
    assert (body["status"], body["code"], body["instance"]) == (
        STATUS[cls],
        "precise_code",
        "/v1/x",
    )
    assert body["type"] == "urn:referral-ledger:problem:precise_code"
    assert body["title"] == found.title != "Error"


def test_a_refusal_tells_the_caller_what_and_where() -> None:
    found = problem_for(ValidationError("k must be at least 5", code="k_too_small", field="k"))
    assert (found.status, found.detail, found.field) == (422, "k must be at least 5", "k")
    assert found.body("/v1/reports")["field"] == "k"
    assert "field" not in problem_for(NotFoundError("no such referral")).body("/v1/x")


@pytest.mark.parametrize(
    ("cls", "status"),
    [(UnavailableError, 503), (InternalError, 500), (IntegrityError, 500), (ConfigError, 500)],
)
def test_a_fault_tells_the_operator_not_the_client(
    cls: type[FaultError], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="api"):
        found = problem_for(cls(f"cannot reach {SECRET}", code="db_down", field="events"))
    assert (found.status, found.code, found.field) == (status, "db_down", None)
    assert SECRET not in str(found.body("/v1/events"))
    assert SECRET in caplog.text


def test_a_new_subclass_answers_as_its_family() -> None:
    class QuotaExceededError(ForbiddenError):
        code = "quota_exceeded"

    class ReplicaLaggingError(UnavailableError):
        pass

    class UnclassifiedError(LedgerError):
        pass

    assert problem_for(QuotaExceededError("too many")).status == 403
    assert QuotaExceededError.kind == "forbidden"
    lagging = problem_for(ReplicaLaggingError(SECRET))
    assert (lagging.status, lagging.code) == (503, "ledger_unavailable")
    assert SECRET not in lagging.detail
    unclassified = problem_for(UnclassifiedError(SECRET))
    assert unclassified.status == 500
    assert SECRET not in unclassified.detail


def test_anything_else_is_500_with_nothing_of_it_in_the_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="api"):
        found = problem_for(KeyError(SECRET))
    body = str(found.body("/v1/x"))
    assert (found.status, found.code) == (500, "internal_error")
    assert SECRET not in body
    assert "KeyError" not in body
    assert SECRET in caplog.text
    assert "KeyError" in caplog.text


def test_http_errors_keep_their_statuses() -> None:
    invalid = UnprocessableEntity()
    invalid.data = {"messages": {"json": {"events": {"0": {"type": ["Missing"]}}}}}  # type: ignore[attr-defined]
    found = problem_for(invalid)
    assert (found.status, found.code, found.field) == (422, "invalid_request", "events.0.type")
    malformed = problem_for(BadRequest("Failed to decode JSON object: line 1"))
    assert (malformed.status, malformed.code) == (400, "malformed_request")
    assert "line 1" not in malformed.detail
    assert (problem_for(NotFound()).status, problem_for(NotFound()).code) == (404, "not_found")


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (contract.ValidationError("missing_field", "type is required", "type"), ValidationError),
        (contract.ForbiddenError("not_granting_org", "not yours"), ForbiddenError),
        (contract.NotFoundError("unknown_referral", "no referral"), NotFoundError),
        (contract.TransitionError("bad_transition", "closed"), TransitionError),
        (contract.ConflictError("id_reused", "other content"), ConflictError),
        (contract.ContractError("refused", "no"), RejectedError),
    ],
)
def test_the_contracts_errors_become_their_refusals(
    error: contract.ContractError, cls: type[RejectedError]
) -> None:
    for given in (error, error.to_dict()):
        refusal = RejectedError.from_contract(given)
        assert type(refusal) is cls
        assert (refusal.kind, refusal.code, str(refusal), refusal.field) == (
            error.kind,
            error.code,
            error.message,
            error.field,
        )


def test_an_unknown_contract_kind_is_a_plain_refusal_with_its_own_status() -> None:
    for kind in ("embargoed", "unavailable"):  # the contract cannot declare an outage
        refusal = RejectedError.from_contract({"kind": kind, "code": "c", "message": "m"})
        assert type(refusal) is RejectedError
        assert (refusal.kind, problem_for(refusal).status) == ("rejected", 422)


def test_kinds_cross_process_boundaries_and_back() -> None:
    for cls in (
        ValidationError,
        AuthenticationError,
        ForbiddenError,
        NotFoundError,
        ConflictError,
        TransitionError,
        UnsupportedError,
        UnavailableError,
        InternalError,
        ConfigError,
        IntegrityError,
    ):
        again = of_kind(cls.kind, "message", code="code", field="f")
        assert (type(again), again.code, str(again), again.field) == (cls, "code", "message", "f")
    assert type(of_kind("no-such-kind", "m", code="c")) is RejectedError


def test_fabric_validation_codes_map_to_classes() -> None:
    stale = validation_error("MVCC_READ_CONFLICT", "tx1")
    assert isinstance(stale, StaleReadError)
    assert (stale.kind, stale.code, problem_for(stale).status) == (
        "conflict",
        "mvcc_read_conflict",
        409,
    )
    assert "resubmit" in str(stale)
    assert isinstance(validation_error("ENDORSEMENT_POLICY_FAILURE", "t"), ForbiddenError)
    assert isinstance(validation_error("BAD_CREATOR_SIGNATURE", "t"), AuthenticationError)
    assert isinstance(validation_error("DUPLICATE_TXID", "t"), DuplicateTransactionError)
    other = validation_error("BAD_RWSET", "t")
    assert (type(other), other.code) == (RejectedError, "bad_rwset")


@pytest.mark.parametrize(
    ("code", "message", "cls", "status"),
    [
        (
            grpc.StatusCode.FAILED_PRECONDITION,
            "access denied: creator org unknown",
            AuthenticationError,
            401,
        ),
        (grpc.StatusCode.PERMISSION_DENIED, "policy says no", ForbiddenError, 403),
        (grpc.StatusCode.FAILED_PRECONDITION, "channel is paused", RejectedError, 422),
        (grpc.StatusCode.UNAVAILABLE, "peer down", UnavailableError, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "slow", UnavailableError, 503),
        (grpc.StatusCode.UNKNOWN, "duplicate transaction found", DuplicateTransactionError, 409),
    ],
)
def test_fabric_grpc_statuses_map_to_classes(
    code: grpc.StatusCode, message: str, cls: type[LedgerError], status: int
) -> None:
    error = to_ledger_error(GatewayFailure(code, message, ()), "submit")
    assert type(error) is cls
    assert problem_for(error).status == status


def test_the_log_cores_errors_are_evidence_and_still_values() -> None:
    for cls in (NoteError, CheckpointError, ProofError):
        assert issubclass(cls, EvidenceError)
        assert issubclass(cls, IntegrityError)
        assert issubclass(cls, ValueError)
    assert issubclass(CheckpointError, NoteError)
    assert CheckpointError("no quorum").diagnostics() == "invalid_checkpoint: no quorum"
