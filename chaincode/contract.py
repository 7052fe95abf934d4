"""The contract's single entry point: dispatch, idempotency, event records.

Every write goes through `submit`: validate the event, replay or reject a reused
event_id (each organisation has its own event IDs), apply the type's rules, then write
one record per event (never a shared list) plus the receipt that makes resubmission
idempotent. Queries are read-only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence

from chaincode import authz, consent, entitlements, queries, referrals
from chaincode.canonical import canonical_json, canonical_json_of_validated
from chaincode.errors import ConflictError, ContractError, ValidationError
from chaincode.fields import PID, TIMESTAMP, UUID, matches
from chaincode.schemas import Event, parse_event
from chaincode.store import (
    Obj,
    Tx,
    consent_key,
    entitlement_key,
    event_key,
    open_entitlements_key,
    receipt_key,
    referral_key,
)
from chaincode.stub import Stub
from chaincode.visibility import check_purpose

WRITE_FUNCTIONS: frozenset[str] = frozenset({"submit"})
QUERY_FUNCTIONS: frozenset[str] = frozenset(
    {"history", "entitlements", "referral", "referral_chain", "consents", "event", "referrals"}
)

Handler = Callable[[Tx, Event], tuple[str, Obj]]

HANDLERS: dict[str, Handler] = {
    "referral.created": referrals.create,
    **{t: referrals.transition for t in referrals.TRANSITIONS},
    "referral.handed_over": referrals.hand_over,
    "entitlement.granted": entitlements.grant,
    "assistance.delivered": entitlements.deliver,
    **{t: entitlements.transition for t in entitlements.TRANSITIONS},
    "consent.granted": consent.grant,
    "consent.revoked": consent.revoke,
}

# The objects an event names by ID, each of which its handler reads before anything else
# (to load it, or to find its ID unused).
_NAMED: dict[str, Callable[[str], str]] = {
    "referral_id": referral_key,
    "parent_referral_id": referral_key,
    "entitlement_id": entitlement_key,
    "continues_entitlement_id": entitlement_key,
    "consent_id": consent_key,
}


def invoke(stub: Stub, function: str, args: Sequence[bytes]) -> bytes:
    """Run one function; returns canonical JSON bytes; raises ContractError (writes nothing
    then)."""
    if function in WRITE_FUNCTIONS:
        _arity(args, 1, 1)
        return submit(stub, args[0])
    if function in QUERY_FUNCTIONS:
        return canonical_json(query(stub, function, [_text(a) for a in args]))
    raise ValidationError("unknown_function", f"no function {function!r}")


def submit(stub: Stub, raw: bytes) -> bytes:
    tx = Tx(stub)
    authz.require_writer(tx.creator)
    event = parse_event(raw)
    if event.get("captured_at", "") > tx.timestamp:
        raise ValidationError(
            "invalid_value", "captured_at is after the time it is logged", "captured_at"
        )
    # When it was captured is not what it says: the same event logged again later, with
    # its capture time added, replays the original.
    what = event
    if "captured_at" in event:
        what = {k: v for k, v in event.items() if k != "captured_at"}
    fingerprint = hashlib.sha256(
        canonical_json_of_validated({"org": tx.org, "event": what})
    ).hexdigest()
    tx.read_ahead(first_reads(event, tx.org))
    receipt = tx.get(receipt_key(event["event_id"], tx.org))
    if receipt is not None:
        if receipt["hash"] != fingerprint:
            raise ConflictError(
                "event_id_conflict", "event_id was already used for different content", "event_id"
            )
        return canonical_json_of_validated(receipt["result"])  # the original bytes, no writes
    pid, specific = HANDLERS[event["type"]](tx, event)
    result: Obj = {
        **specific,
        "event_id": event["event_id"],
        "type": event["type"],
        "tx_id": tx.tx_id,
        "timestamp": tx.timestamp,
        "pid": pid,
    }
    record: Obj = {
        "event": event,
        "org": tx.org,
        "tx_id": tx.tx_id,
        "timestamp": tx.timestamp,
        "category": consent.category_of(event["type"]),
        "pid": pid,
    }
    tx.put(event_key(pid, tx.timestamp, event["event_id"], tx.org), record)
    tx.put(receipt_key(event["event_id"], tx.org), {"hash": fingerprint, "result": result})
    tx.emit(
        event["type"],
        {"event_id": event["event_id"], "org": tx.org, "pid": pid, "timestamp": tx.timestamp},
    )
    tx.commit()
    return canonical_json_of_validated(result)


def keys_read_first(org: str, function: str, args: Sequence[bytes]) -> list[str]:
    """The keys a call by `org` reads before anything it read can tell it what to read
    next: for a submission its `first_reads`, for anything else none. A reader that
    fetches them beforehand (a ledger on a database server) spares a round trip; one
    that fetches others, or none, only spends one."""
    if function not in WRITE_FUNCTIONS or len(args) != 1:
        return []
    try:
        event = parse_event(args[0])
    except ContractError:
        return []
    return first_reads(event, org)


def first_reads(event: Event, org: str) -> list[str]:
    """What `org`'s submission of the event reads first, in one request: its receipt,
    then the objects the event names and, for a grant, her open entitlements of its type."""
    keys = [receipt_key(event["event_id"], org)]
    keys += [key_of(event[field]) for field, key_of in _NAMED.items() if field in event]
    if event["type"] == "entitlement.granted":
        keys.append(open_entitlements_key(event["pid"], event["assistance_type"]))
    return keys


def query(stub: Stub, function: str, args: list[str]) -> Obj:
    tx = Tx(stub)
    authz.require_person_reader(tx.creator)
    if function == "history":
        _arity(args, 2, 2)
        return queries.history(tx, _pid(args[0]), check_purpose(args[1]))
    if function == "entitlements":
        _arity(args, 2, 2)
        return queries.entitlements_of(tx, _pid(args[0]), check_purpose(args[1]))
    if function == "consents":
        _arity(args, 1, 1)
        return queries.consents_of(tx, _pid(args[0]))
    if function == "referrals":
        # direction[, state[, after's created_at, after's referral_id[, limit]]]; "" for
        # any state, or from the start
        _arity(args, 1, 5)
        direction, state, after_at, after_id, limit = (*args, "", "", "", "")[:5]
        return queries.referrals_of_org(
            tx,
            _vocabulary(direction, "direction", queries.REFERRAL_DIRECTIONS),
            _vocabulary(state, "state", referrals.STATES) if state else None,
            _after(after_at, after_id),
            _limit(limit, queries.MAX_PAGE),
        )
    if function == "event":
        _arity(args, 1, 2)
        purpose = check_purpose(args[1]) if len(args) == 2 else None
        return queries.event(tx, _uuid(args[0], "event_id"), purpose)
    _arity(args, 1, 2)
    purpose = check_purpose(args[1]) if len(args) == 2 else "referral"
    referral_id = _uuid(args[0], "referral_id")
    if function == "referral":
        return queries.referral(tx, referral_id, purpose)
    return queries.referral_chain(tx, referral_id, purpose)


def _arity(args: Sequence[object], least: int, most: int) -> None:
    if not least <= len(args) <= most:
        raise ValidationError("invalid_arguments", f"expected {least} to {most} arguments")


def _text(arg: bytes) -> str:
    try:
        return arg.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("invalid_arguments", "arguments must be UTF-8") from exc


def _vocabulary(value: str, field: str, vocabulary: Collection[str]) -> str:
    if value not in vocabulary:
        raise ValidationError("invalid_code", f"{field} is not in its vocabulary", field)
    return value


def _after(created_at: str, referral_id: str) -> tuple[str, str] | None:
    if not created_at and not referral_id:
        return None
    if not matches(TIMESTAMP, created_at):
        raise ValidationError("invalid_format", "after is not a referral's time", "after")
    return created_at, _uuid(referral_id, "after")


def _limit(value: str, most: int) -> int:
    if not value:
        return most
    if not (value.isascii() and value.isdigit() and len(value) <= 4 and 1 <= int(value) <= most):
        raise ValidationError("invalid_value", f"limit must be 1 to {most}", "limit")
    return int(value)


def _pid(value: str) -> str:
    if not matches(PID, value):
        raise ValidationError("invalid_format", "pid does not match its pattern", "pid")
    return value


def _uuid(value: str, field: str) -> str:
    if not matches(UUID, value):
        raise ValidationError("invalid_format", f"{field} does not match its pattern", field)
    return value
