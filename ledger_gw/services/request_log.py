"""The record of who asked the gateway what, kept in the caller's organisation's own database
(its ``audit_log`` table: the agency's own audit trail, not the ledger's)."""

from __future__ import annotations

from chaincode.fields import PID, matches
from ledger_gw.offchain.models import utcnow
from ledger_gw.offchain.store import OffchainStore

#: The role a row names for a request another organisation's gateway signed: it carries
#: no token, so the organisation whose signature verified stands where a token's ID would.
PEER_ROLE = "peer-gateway"
_CODE_CHARS = 64  # the audit_log.code column


def record(
    store: OffchainStore,
    *,
    token_id: str | None,
    role: str | None,
    method: str,
    route: str,
    pid: str | None,
    status: int,
    code: str | None,
) -> None:
    store.audit(
        {
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
    )


def _code(code: str | None) -> str | None:
    """A code as its column holds it: whatever produced it (a peer's answer, say), a NUL
    or a code too long would make PostgreSQL refuse the row, and the rows committed with
    it."""
    if code is None:
        return None
    kept = "".join(ch for ch in code if ch.isprintable())[:_CODE_CHARS]
    return kept or None
