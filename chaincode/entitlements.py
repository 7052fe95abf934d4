"""Entitlements and the assistance delivered against them.

active -> suspended | revoked | closed; suspended -> active (resumed) | revoked | closed.
Only the granting org acts on an entitlement. Overlapping grants of the same
assistance type for the same person (any org) are flagged, not refused: the
caseworker decides, the ledger makes the overlap visible, to a granter that may read
the other grant for deduplication (`amendments.CONSENT_BOUND`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from chaincode import amendments, authz, fields
from chaincode.errors import ConflictError, NotFoundError, TransitionError, ValidationError
from chaincode.schemas import Event
from chaincode.store import ENTITLEMENTS, Obj, Tx, entitlement_key, open_entitlements_key
from chaincode.visibility import Reader

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


def open_for_pid(tx: Tx, pid: str) -> list[Obj]:
    """Her open entitlements, every type, by range scan of the index."""
    out = []
    for _, index in tx.of_person(pid, ENTITLEMENTS):
        for entry in index["open"]:
            entitlement = tx.get(entitlement_key(entry["entitlement_id"]))
            if entitlement is not None and entitlement["state"] in OPEN_STATES:
                out.append(entitlement)
    return out


def _open_of_type(tx: Tx, pid: str, assistance_type: str) -> list[Obj]:
    index = tx.get(open_entitlements_key(pid, assistance_type))
    return [] if index is None else list(index["open"])


def overlapping(open_ones: list[Obj], start: str, end: str) -> list[str]:
    """IDs of open entitlements whose period shares at least one day."""
    return sorted(e["entitlement_id"] for e in open_ones if e["start"] <= end and start <= e["end"])


def _index(tx: Tx, open_ones: list[Obj], entitlement: Obj) -> None:
    """Write her index of open entitlements of this type with or without this one."""
    entitlement_id = entitlement["entitlement_id"]
    kept = [e for e in open_ones if e["entitlement_id"] != entitlement_id]
    if entitlement["state"] in OPEN_STATES:
        kept.append({key: entitlement[key] for key in ("entitlement_id", "start", "end")})
    kept.sort(key=lambda e: str(e["entitlement_id"]))
    tx.put(
        open_entitlements_key(entitlement["pid"], entitlement["assistance_type"]), {"open": kept}
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
    open_ones = _open_of_type(tx, pid, event["assistance_type"])
    duplicates = overlapping(open_ones, event["start"], event["end"])
    if duplicates and amendments.in_force(tx, amendments.CONSENT_BOUND):
        reader = Reader(tx, "deduplication")
        duplicates = [d for d in duplicates if reader.sees_entitlement_id(d)]
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
    _index(tx, open_ones, entitlement)
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
    if step.target not in OPEN_STATES:  # suspended is still open: the index holds it
        _index(
            tx, _open_of_type(tx, entitlement["pid"], entitlement["assistance_type"]), entitlement
        )
    return entitlement["pid"], {
        "entitlement_id": entitlement["entitlement_id"],
        "state": step.target,
    }


def view(entitlement: Obj) -> Obj:
    remaining = Decimal(entitlement["amount"]) - Decimal(entitlement["delivered"])
    return {**entitlement, "remaining": fields.format_amount(remaining)}
