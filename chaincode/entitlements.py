"""Entitlements and the assistance delivered against them.

active -> suspended | revoked | closed; suspended -> active (resumed) | revoked | closed.
Only the granting org acts on an entitlement. Overlapping grants of the same
assistance type for the same person (any org) are flagged, not refused: the
caseworker decides, the ledger makes the overlap visible.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from chaincode import authz, fields
from chaincode.errors import ConflictError, NotFoundError, TransitionError, ValidationError
from chaincode.schemas import Event
from chaincode.store import ENTITLEMENTS, Obj, Tx, entitlement_index_key, entitlement_key

OPEN_STATES = frozenset({"active", "suspended"})


class Transition(NamedTuple):
    sources: frozenset[str]
    target: str


TRANSITIONS: dict[str, Transition] = {
    "entitlement.suspended": Transition(frozenset({"active"}), "suspended"),
    "entitlement.resumed": Transition(frozenset({"suspended"}), "active"),
    "entitlement.revoked": Transition(OPEN_STATES, "revoked"),
    "entitlement.closed": Transition(OPEN_STATES, "closed"),
}


def load(tx: Tx, entitlement_id: str) -> Obj:
    entitlement = tx.get(entitlement_key(entitlement_id))
    if entitlement is None:
        raise NotFoundError("entitlement_not_found", "no such entitlement", "entitlement_id")
    return entitlement


def for_pid(tx: Tx, pid: str) -> list[Obj]:
    """Entitlements of a person, by range scan of the index."""
    out = []
    for _, entry in tx.of_person(pid, ENTITLEMENTS):
        entitlement = tx.get(entitlement_key(entry["entitlement_id"]))
        if entitlement is not None:
            out.append(entitlement)
    return out


def overlapping(tx: Tx, pid: str, assistance_type: str, start: str, end: str) -> list[str]:
    """IDs of open entitlements of this type whose period shares at least one day."""
    return sorted(
        e["entitlement_id"]
        for _, e in tx.of_person(pid, ENTITLEMENTS, assistance_type)
        if e["state"] in OPEN_STATES and e["start"] <= end and start <= e["end"]
    )


def _index(tx: Tx, entitlement: Obj) -> None:
    """Keep the index entry in step with the entitlement's state."""
    tx.put(
        entitlement_index_key(
            entitlement["pid"], entitlement["assistance_type"], entitlement["entitlement_id"]
        ),
        {key: entitlement[key] for key in ("entitlement_id", "state", "start", "end")},
    )


def _check_continued(tx: Tx, pid: str, continued_id: str | None) -> None:
    """A grant continues an entitlement of the same person, one that exists."""
    if continued_id is None:
        return
    continued = tx.get(entitlement_key(continued_id))
    field = "continues_entitlement_id"
    if continued is None:
        raise NotFoundError("entitlement_not_found", "no such entitlement to continue", field)
    if continued["pid"] != pid:
        raise ValidationError(
            "continued_pid_mismatch", "the continued entitlement is about another person", field
        )


def grant(tx: Tx, event: Event) -> tuple[str, Obj]:
    entitlement_id: str = event["entitlement_id"]
    pid: str = event["pid"]
    if tx.get(entitlement_key(entitlement_id)) is not None:
        raise ConflictError(
            "entitlement_exists", "entitlement_id is already used", "entitlement_id"
        )
    _check_continued(tx, pid, event.get("continues_entitlement_id"))
    duplicates = overlapping(tx, pid, event["assistance_type"], event["start"], event["end"])
    entitlement: Obj = {
        "entitlement_id": entitlement_id,
        "pid": pid,
        "granted_by": tx.org,
        "programme": event["programme"],
        "assistance_type": event["assistance_type"],
        "modality": event["modality"],
        "amount": event["amount"],
        "currency": event["currency"],
        "start": event["start"],
        "end": event["end"],
        "location": event.get("location"),
        "state": "active",
        "reason": None,
        "delivered": "0",
        "possible_duplicate_of": duplicates,
        "created_at": tx.timestamp,
        "updated_at": tx.timestamp,
    }
    tx.put(entitlement_key(entitlement_id), entitlement)
    _index(tx, entitlement)
    return pid, {
        "entitlement_id": entitlement_id,
        "state": "active",
        "possible_duplicate_of": duplicates,
    }


def _require_granter(tx: Tx, entitlement: Obj) -> None:
    authz.require_org(
        tx.creator, entitlement["granted_by"], "not_granting_org", "the granting organisation"
    )


def deliver(tx: Tx, event: Event) -> tuple[str, Obj]:
    entitlement = load(tx, event["entitlement_id"])
    _require_granter(tx, entitlement)
    if entitlement["state"] != "active":
        raise TransitionError(
            "entitlement_not_active",
            f"cannot deliver against a {entitlement['state']} entitlement",
            "entitlement_id",
        )
    if event["currency"] != entitlement["currency"]:
        raise ValidationError(
            "currency_mismatch", "currency differs from the entitlement's", "currency"
        )
    if not entitlement["start"] <= event["date"] <= entitlement["end"]:
        raise ValidationError(
            "date_outside_period", "date is outside the entitlement period", "date"
        )
    delivered = Decimal(entitlement["delivered"]) + Decimal(event["amount"])
    entitled = Decimal(entitlement["amount"])
    if delivered > entitled:
        raise TransitionError(
            "exceeds_entitlement",
            "cumulative deliveries would exceed the entitled amount",
            "amount",
        )
    entitlement["delivered"] = fields.format_amount(delivered)
    entitlement["updated_at"] = tx.timestamp
    tx.put(entitlement_key(entitlement["entitlement_id"]), entitlement)
    return entitlement["pid"], {
        "entitlement_id": entitlement["entitlement_id"],
        "delivered": entitlement["delivered"],
        "remaining": fields.format_amount(entitled - delivered),
    }


def transition(tx: Tx, event: Event) -> tuple[str, Obj]:
    step = TRANSITIONS[event["type"]]
    entitlement = load(tx, event["entitlement_id"])
    _require_granter(tx, entitlement)
    if entitlement["state"] not in step.sources:
        raise TransitionError(
            "invalid_transition",
            f"{event['type']} is not allowed from {entitlement['state']}",
            "entitlement_id",
        )
    entitlement["state"] = step.target
    entitlement["reason"] = event.get("reason")
    entitlement["updated_at"] = tx.timestamp
    tx.put(entitlement_key(entitlement["entitlement_id"]), entitlement)
    _index(tx, entitlement)
    return entitlement["pid"], {
        "entitlement_id": entitlement["entitlement_id"],
        "state": step.target,
    }


def view(entitlement: Obj) -> Obj:
    remaining = Decimal(entitlement["amount"]) - Decimal(entitlement["delivered"])
    return {**entitlement, "remaining": fields.format_amount(remaining)}
