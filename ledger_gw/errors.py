"""One error tree for the whole library; the CLI and the API each catch its root once.

Two families, as in python-tuf:

* `RejectedError`: the request was refused and changed nothing; the caller can fix it.
* `FaultError`: something is broken or unreachable; the request itself may have been fine.

Each class names its `kind`, the word the contract and batch items use for it, and a
default `code` that a raiser may make more precise. The HTTP status of each class lives
in `api.errors`, not here. This module imports nothing of the project, so that the log
core can base its errors on it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol


class LedgerError(Exception):
    """Root of every error this library raises on purpose."""

    kind: ClassVar[str] = "error"
    code: str = "ledger_error"
    field: str | None = None

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.field = field

    def diagnostics(self) -> str:
        """One line for a person, no traceback."""
        where = f" (field {self.field})" if self.field else ""
        return f"{self.code}{where}: {self}"


# -- the request was refused and changed nothing ------------------------------------------


class RejectedError(LedgerError):
    """The request was refused and nothing was written; what the contract calls a
    refusal without a more precise kind."""

    kind = "rejected"
    code = "rejected"

    @staticmethod
    def from_contract(error: ContractErrorLike | Mapping[str, Any]) -> RejectedError:
        """The refusal for the contract's error (or its JSON form), by its kind; a kind
        this library does not know is a plain refusal."""
        data = error if isinstance(error, Mapping) else error.to_dict()
        refusal = _CONTRACT_KINDS.get(str(data.get("kind")), RejectedError)
        return refusal(str(data["message"]), code=str(data["code"]), field=data.get("field"))


class ValidationError(RejectedError):
    """The input does not match its schema: a field is unknown, missing or malformed."""

    kind = "validation"
    code = "invalid_value"


@dataclass(frozen=True)
class FieldError:
    """One field's error, with what the field would accept where that is known."""

    field: str
    code: str
    message: str
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None

    def under(self, where: str) -> FieldError:
        return replace(self, field=f"{where}.{self.field}") if where else self

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "code": self.code, "message": self.message}
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        if self.pattern is not None:
            out["pattern"] = self.pattern
        return out


MAX_LISTED = 100  # a body of a million unknown keys gets its count, not a million errors


class InvalidEventError(ValidationError):
    """One or more events are malformed; `errors` lists the field errors found (the first
    MAX_LISTED; the message counts them all). Its own code and field are the first
    error's, the one the contract itself would name."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.message}{more}", code=first.code, field=first.field)
        self.errors = tuple(errors[:MAX_LISTED])

    @property
    def details(self) -> dict[str, Any]:
        return {"errors": [e.as_dict() for e in self.errors]}


class MalformedError(ValidationError):
    """The bytes are not the format they claim: not JSON, or JSON this library refuses
    to read (a repeated key, too deep, a lone surrogate, a number out of range)."""

    code = "malformed_request"


class AuthenticationError(RejectedError):
    """A token, signature, certificate or organisation does not check out."""

    kind = "unauthenticated"
    code = "authentication_failed"


class ForbiddenError(RejectedError):
    """The caller is who it says, but its organisation or role may not do this."""

    kind = "forbidden"
    code = "forbidden"


class NotFoundError(RejectedError):
    """The object, log position or checkpoint asked for does not exist."""

    kind = "not_found"
    code = "not_found"


class ConflictError(RejectedError):
    """An ID is already used with different content, or the state has moved on."""

    kind = "conflict"
    code = "conflict"


class TransitionError(ConflictError):
    """The object's state machine does not allow this event now."""

    kind = "transition"
    code = "invalid_transition"


class StaleReadError(ConflictError):
    """Another transaction changed what this one read before it committed: nothing took
    effect, and the same request sent again may well succeed."""

    code = "mvcc_read_conflict"


class UnsupportedError(RejectedError):
    """This gateway does not offer the operation (on its backend, or at all)."""

    kind = "unsupported"
    code = "unsupported"


class AuditError(RejectedError):
    """An audit input (bundle, state file, claim) is unusable: nothing was verified."""

    code = "audit_error"


class CredentialError(RejectedError):
    """A credential does not verify: forged, altered, expired, revoked, issued by whom it
    may not be, or under another consortium. Its ``code`` says which, stably."""

    code = "credential_invalid"


class HandoverError(RejectedError):
    """A referral hand-over package cannot be taken: tampered with, sealed to another
    organisation, or not the one the ledger records. Its ``code`` says which, stably."""

    code = "handover_invalid"


# -- something is broken or unreachable --------------------------------------------------


class FaultError(LedgerError):
    """Something on the ledger's side is broken or unreachable; the caller is not at fault."""

    kind = "fault"
    code = "ledger_fault"


class UnavailableError(FaultError):
    """The ledger's storage or network cannot be reached now; retrying may help."""

    kind = "unavailable"
    code = "ledger_unavailable"


class ConfigError(FaultError):
    """A file, key or setting the library needs is missing or malformed."""

    kind = "config"
    code = "config_error"


class InternalError(FaultError):
    """Code that should not fail did, such as the contract crashing on a transaction."""

    kind = "internal"
    code = "internal_error"


# The contract crashed on one transaction: the same transaction sent again fails again,
# while the others of its batch are decided as usual.
CONTRACT_FAILURE = "contract_failure"


class IntegrityError(FaultError):
    """Data that should verify does not: someone or something changed it."""

    kind = "integrity"
    code = "integrity_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.position = position


class EvidenceError(IntegrityError, ValueError):
    """A signed note, checkpoint or proof is malformed or does not verify. Still a
    ValueError: parsing a note is parsing a value."""

    code = "invalid_evidence"


class AuditFailedError(IntegrityError):
    """Verification ran and found at least one failure; the report says which."""

    code = "audit_failed"


class LogInconsistentError(IntegrityError):
    """A new checkpoint does not extend the one already trusted: the log forked or was rewritten."""

    code = "log_inconsistent"


class LogStaleError(UnavailableError):
    """The witnesses' quorum last cosigned what the log serves too long ago: it is an
    old view, whether the log is frozen for this watcher or its witnesses are down."""

    code = "log_stale"


# -- across process and contract boundaries ----------------------------------------------


class ContractErrorLike(Protocol):
    """The contract's own error (`chaincode.errors.ContractError`), as this module sees it."""

    def to_dict(self) -> dict[str, Any]: ...


_CONTRACT_KINDS: dict[str, type[RejectedError]] = {
    c.kind: c
    for c in (
        RejectedError,
        ValidationError,
        ForbiddenError,
        NotFoundError,
        ConflictError,
        TransitionError,
    )
}
_OTHER_KINDS: tuple[type[LedgerError], ...] = (
    AuthenticationError,
    UnsupportedError,
    UnavailableError,
    ConfigError,
    InternalError,
    IntegrityError,
)
_KINDS: dict[str, type[LedgerError]] = {
    c.kind: c for c in (*_CONTRACT_KINDS.values(), *_OTHER_KINDS)
}


def of_kind(kind: str, message: str, *, code: str, field: str | None = None) -> LedgerError:
    """The error a batch item or another process names by its kind; a kind this library
    does not know is a plain refusal."""
    return _KINDS.get(kind, RejectedError)(message, code=code, field=field)
