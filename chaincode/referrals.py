"""Referrals between agencies: created -> accepted | declined | cancelled; accepted ->
completed | cancelled. The receiver accepts, declines and completes; the sender cancels.
"""

from __future__ import annotations

from typing import NamedTuple

from chaincode import amendments, authz, consent
from chaincode.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransitionError,
    ValidationError,
)
from chaincode.schemas import Event
from chaincode.store import INBOX, OUTBOX, Obj, Tx, box_key, referral_key

# A parent may be continued only once its receiver has taken it on.
OPEN_STATES = frozenset({"created", "accepted"})
PARENT_STATES = frozenset({"accepted", "completed"})


class Transition(NamedTuple):
    sources: frozenset[str]
    target: str
    by: str  # "receiver" (to_org) or "sender" (from_org)
    detail: str | None  # event field copied onto the referral


TRANSITIONS: dict[str, Transition] = {
    "referral.accepted": Transition(frozenset({"created"}), "accepted", "receiver", None),
    "referral.declined": Transition(frozenset({"created"}), "declined", "receiver", "reason"),
    "referral.completed": Transition(frozenset({"accepted"}), "completed", "receiver", "outcome"),
    "referral.cancelled": Transition(
        frozenset({"created", "accepted"}), "cancelled", "sender", "reason"
    ),
}


STATES = frozenset({"created", *(t.target for t in TRANSITIONS.values())})


def load(tx: Tx, referral_id: str, field: str = "referral_id") -> Obj:
    referral = tx.get(referral_key(referral_id))
    if referral is None:
        raise NotFoundError("referral_not_found", "no such referral", field)
    return referral


def create(tx: Tx, event: Event) -> tuple[str, Obj]:
    referral_id: str = event["referral_id"]
    pid: str = event["pid"]
    if tx.get(referral_key(referral_id)) is not None:
        raise ConflictError("referral_exists", "referral_id is already used", "referral_id")
    if event["to_org"] == tx.org:
        raise ValidationError("self_referral", "an agency cannot refer to itself", "to_org")
    parent_id: str | None = event.get("parent_referral_id")
    if parent_id is not None:
        parent = load(tx, parent_id, "parent_referral_id")
        authz.require_org(
            tx.creator,
            parent["to_org"],
            "not_parent_receiver",
            "the parent referral's receiving organisation",
        )
        if parent["pid"] != pid:
            raise ValidationError(
                "parent_pid_mismatch", "the parent is about another person", "parent_referral_id"
            )
        if parent["state"] not in PARENT_STATES:
            raise TransitionError(
                "parent_not_accepted", "the parent referral was not accepted", "parent_referral_id"
            )
    consent_id: str | None = event.get("consent_id")
    if consent_id is not None:
        if amendments.in_force(tx, amendments.CONSENT_BOUND):
            consent.require_party(tx, consent_id)
        consent.require_cover(tx, consent_id, pid, event["to_org"], "referral")
    referral: Obj = {
        "referral_id": referral_id,
        "pid": pid,
        "from_org": tx.org,
        "to_org": event["to_org"],
        "sector": event["sector"],
        "urgency": event["urgency"],
        "document_hash": event["document_hash"],
        "parent_referral_id": parent_id,
        "consent_id": consent_id,
        "state": "created",
        "reason": None,
        "outcome": None,
        "created_at": tx.timestamp,
        "updated_at": tx.timestamp,
    }
    tx.put(referral_key(referral_id), referral)
    tx.put(box_key(INBOX, referral["to_org"], tx.timestamp, referral_id), {})
    tx.put(box_key(OUTBOX, tx.org, tx.timestamp, referral_id), {})
    return pid, {"referral_id": referral_id, "state": "created"}


def transition(tx: Tx, event: Event) -> tuple[str, Obj]:
    step = TRANSITIONS[event["type"]]
    referral = load(tx, event["referral_id"])
    if step.by == "receiver":
        authz.require_org(
            tx.creator, referral["to_org"], "not_receiver", "the receiving organisation"
        )
    else:
        authz.require_org(
            tx.creator, referral["from_org"], "not_sender", "the sending organisation"
        )
    if referral["state"] not in step.sources:
        raise TransitionError(
            "invalid_transition",
            f"{event['type']} is not allowed from {referral['state']}",
            "referral_id",
        )
    referral["state"] = step.target
    referral["updated_at"] = tx.timestamp
    if step.detail is not None:
        referral[step.detail] = event[step.detail]
    tx.put(referral_key(referral["referral_id"]), referral)
    return referral["pid"], {"referral_id": referral["referral_id"], "state": step.target}


def hand_over(tx: Tx, event: Event) -> tuple[str, Obj]:
    """The sender records, by its salted hash only, the package it sealed for the
    receiver: allowed while the referral is open and under the consent it cites, which
    must still name the receiver for referral and cover the referrals category."""
    referral = load(tx, event["referral_id"])
    authz.require_org(tx.creator, referral["from_org"], "not_sender", "the sending organisation")
    if referral["state"] not in OPEN_STATES:
        raise TransitionError(
            "referral_closed", f"the referral is {referral['state']}", "referral_id"
        )
    consent_id: str | None = referral["consent_id"]
    if consent_id is None:
        raise ValidationError(
            "consent_required", "the referral cites no consent to share under", "referral_id"
        )
    cited = consent.require_cover(tx, consent_id, referral["pid"], referral["to_org"], "referral")
    if not consent.covers(cited, tx.date, referral["to_org"], "referral", "referrals"):
        raise ForbiddenError(
            "consent_not_covering",
            "the consent does not cover sharing referral data",
            "referral_id",
        )
    return referral["pid"], {
        "referral_id": referral["referral_id"],
        "document_hash": event["document_hash"],
    }
