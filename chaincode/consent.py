"""Consent records (after ISO/IEC TS 27560): granted by the collecting org, revocable anywhere.

A consent is active while it is not revoked and the transaction date is before its
`expires` date (it lapses on that date). Whether it covers a read is decided here
and nowhere else.
"""

from __future__ import annotations

from datetime import date

from chaincode import fields
from chaincode.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransitionError,
    ValidationError,
)
from chaincode.schemas import Event
from chaincode.store import CONSENTS, Obj, Tx, consent_index_key, consent_key

CATEGORY_OF_TYPE = {
    "referral": "referrals",
    "entitlement": "entitlements",
    "assistance": "assistance",
    "consent": "consent",
}


def category_of(event_type: str) -> str:
    return CATEGORY_OF_TYPE[event_type.split(".", 1)[0]]


def is_active(consent: Obj, on: date) -> bool:
    return consent["state"] == "granted" and on < date.fromisoformat(consent["expires"])


def names(consent: Obj, org: str) -> bool:
    """The org is a grantee (or the consent covers the whole consortium)."""
    grantees: list[str] = consent["grantees"]
    return grantees == [fields.ALL_GRANTEES] or org in grantees


def covers(consent: Obj, on: date, org: str, purpose: str, category: str | None = None) -> bool:
    return (
        is_active(consent, on)
        and names(consent, org)
        and purpose in consent["purposes"]
        and (category is None or category in consent["data_categories"])
    )


def is_party(consent: Obj, org: str) -> bool:
    """Orgs that may see a consent record itself: its collector and its grantees. Not an
    agency that only recorded her withdrawal: any may, given the consent's ID, and
    should learn no more of it than that it is withdrawn."""
    return org == consent["collected_by"] or names(consent, org)


def load(tx: Tx, consent_id: str, field: str = "consent_id") -> Obj:
    consent = tx.get(consent_key(consent_id))
    if consent is None:
        raise NotFoundError("consent_not_found", "no such consent", field)
    return consent


def for_pid(tx: Tx, pid: str) -> list[Obj]:
    """All consents about a person, by consent ID, via the per-person index."""
    out = []
    for _, entry in tx.of_person(pid, CONSENTS):
        consent = tx.get(consent_key(entry["consent_id"]))
        if consent is not None:
            out.append(consent)
    return out


def require_party(tx: Tx, consent_id: str) -> None:
    """A consent cited by an agency that is no party to it is as if unknown: the answer
    would tell whom it is about and whom it covers."""
    if not is_party(load(tx, consent_id), tx.org):
        raise NotFoundError("consent_not_found", "no such consent", "consent_id")


def require_cover(tx: Tx, consent_id: str, pid: str, org: str, purpose: str) -> Obj:
    """A referral that cites a consent must cite one that actually allows it; returns it."""
    consent = load(tx, consent_id)
    if consent["pid"] != pid:
        raise ValidationError(
            "consent_pid_mismatch", "the consent is about another person", "consent_id"
        )
    if not is_active(consent, tx.date):
        raise TransitionError("consent_inactive", "the consent is revoked or expired", "consent_id")
    if not covers(consent, tx.date, org, purpose):
        raise ForbiddenError(
            "consent_not_covering", f"the consent does not cover {org} for {purpose}", "consent_id"
        )
    return consent


def grant(tx: Tx, event: Event) -> tuple[str, Obj]:
    consent_id: str = event["consent_id"]
    pid: str = event["pid"]
    if tx.get(consent_key(consent_id)) is not None:
        raise ConflictError("consent_exists", "consent_id is already used", "consent_id")
    if date.fromisoformat(event["expires"]) <= tx.date:
        raise ValidationError(
            "invalid_value", "expires must be after the transaction date", "expires"
        )
    consent: Obj = {
        "consent_id": consent_id,
        "pid": pid,
        "collected_by": tx.org,
        "grantees": event["grantees"],
        "purposes": sorted(event["purposes"]),
        "data_categories": sorted(event["data_categories"]),
        "lawful_basis": event["lawful_basis"],
        "expires": event["expires"],
        "form_hash": event["form_hash"],
        "state": "granted",
        "granted_at": tx.timestamp,
        "revoked_at": None,
        "revoked_by": None,
        "revoke_reason": None,
    }
    tx.put(consent_key(consent_id), consent)
    tx.put(consent_index_key(pid, consent_id), {"consent_id": consent_id})
    return pid, {"consent_id": consent_id, "state": "granted"}


def revoke(tx: Tx, event: Event) -> tuple[str, Obj]:
    """Any agency may record a withdrawal: the person may withdraw wherever she is."""
    consent = load(tx, event["consent_id"])
    if consent["state"] != "granted":
        raise TransitionError("invalid_transition", "the consent is already revoked", "consent_id")
    consent.update(
        state="revoked",
        revoked_at=tx.timestamp,
        revoked_by=tx.org,
        revoke_reason=event.get("reason"),
    )
    tx.put(consent_key(consent["consent_id"]), consent)
    return consent["pid"], {"consent_id": consent["consent_id"], "state": "revoked"}


def view(consent: Obj, on: date) -> Obj:
    return {**consent, "active": is_active(consent, on)}
