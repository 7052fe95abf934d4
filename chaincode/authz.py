"""Who may call what, by the creator's role and organisation."""

from __future__ import annotations

from chaincode import fields
from chaincode.errors import ForbiddenError
from chaincode.stub import Identity


def _check_org(creator: Identity) -> None:
    # The org ID is written to the ledger with every event, so it obeys the same pattern.
    if not fields.is_code(fields.ORG_ID, creator.org_id):
        raise ForbiddenError("invalid_creator", "the creator's organisation ID is malformed")


def require_writer(creator: Identity) -> None:
    """Only agencies record events; auditors and donors observe."""
    _check_org(creator)
    if creator.role != "agency":
        raise ForbiddenError("role_forbidden", f"role {creator.role!r} may not submit events")


def require_person_reader(creator: Identity) -> None:
    """Donors see aggregates elsewhere, never person-level data."""
    _check_org(creator)
    if creator.role not in ("agency", "auditor"):
        raise ForbiddenError("role_forbidden", f"role {creator.role!r} may not read person data")


def require_org(creator: Identity, allowed: str, code: str, what: str) -> None:
    if creator.org_id != allowed:
        raise ForbiddenError(code, f"only {what} may do this")
