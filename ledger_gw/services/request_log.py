"""The record of who asked the gateway what, kept in the caller's organisation's own database
(its ``audit_log`` table: the agency's own audit trail, not the ledger's)."""

from __future__ import annotations

from typing import Any

from chaincode.fields import PID, matches
from ledger_gw.errors import (
    AuthenticationError,
    ConflictError,
    FaultError,
    ForbiddenError,
    LedgerError,
    MalformedError,
    NotFoundError,
    RejectedError,
    UnavailableError,
    UnsupportedError,
    ValidationError,
)
from ledger_gw.offchain.models import utcnow

#: The role a row names for a request another organisation's gateway signed: it carries
#: no token, so the organisation whose signature verified stands where a token's ID would.
PEER_ROLE = "peer-gateway"
_CODE_CHARS = 64  # the audit_log.code column
#: The HTTP status each family of errors is answered with (its nearest class's): what
#: the gateway answers and its audit log records, for a token's request or a peer's.
STATUS: dict[type[LedgerError], int] = {
    LedgerError: 500,
    RejectedError: 422,
    ValidationError: 422,
    MalformedError: 400,
    AuthenticationError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    UnsupportedError: 501,
    FaultError: 500,
    UnavailableError: 503,
}


def status_of(error: BaseException) -> int:
    """The status ``error`` is answered with; 500 for anything not the library's."""
    if not isinstance(error, LedgerError):
        return 500
    return next(STATUS[c] for c in type(error).__mro__ if c in STATUS)


def row(
    *,
    token_id: str | None,
    role: str | None,
    method: str,
    route: str,
    pid: str | None,
    status: int,
    code: str | None,
) -> dict[str, Any]:
    """An audit row as its columns hold it, for ``OffchainStore.audit`` (or a session's
    insert, where the row must commit with other writes)."""
    return {
        "at": utcnow(),
        "token_id": token_id,
        "role": role,
        "method": method,
        "route": route[:200],
        # Only a pseudonymous ID: what a caller put in the path otherwise (41 characters,
        # a NUL) names nobody, and PostgreSQL would refuse the rows written with it.
        "pid": pid if pid is not None and matches(PID, pid) else None,
        "status": status,
        "code": _code(code),
    }


def _code(code: str | None) -> str | None:
    """A code as its column holds it: whatever produced it (a peer's answer, say), a NUL
    or a code too long would make PostgreSQL refuse the row, and the rows committed with
    it."""
    if code is None:
        return None
    kept = "".join(ch for ch in code if ch.isprintable())[:_CODE_CHARS]
    return kept or None
