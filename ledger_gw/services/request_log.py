"""The record of who asked the gateway what, kept in the caller's organisation's own database
(its ``audit_log`` table: the agency's own audit trail, not the ledger's)."""

from __future__ import annotations

from chaincode.fields import PID, matches
from ledger_gw.offchain.models import utcnow
from ledger_gw.offchain.store import OffchainStore


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
            "code": code,
        }
    )
