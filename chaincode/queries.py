"""Read-only queries. They never write; what they return is filtered by `visibility`."""

from __future__ import annotations

from chaincode import consent, entitlements, referrals
from chaincode.errors import ConflictError, NotFoundError
from chaincode.store import HISTORY, INBOX, OUTBOX, Obj, Tx, event_key, receipts
from chaincode.stub import MAX_UNICODE, composite_key, split_composite_key
from chaincode.visibility import Reader

MAX_CHAIN = 64  # chains cannot cycle (a parent exists before its child); this only bounds work


def _log(tx: Tx, pid: str) -> list[Obj]:
    """A person's event records in time order (key order: timestamp, event_id)."""
    return [record for _, record in tx.of_person(pid, HISTORY)]


def history(tx: Tx, pid: str, purpose: str) -> Obj:
    reader = Reader(tx, purpose)
    log = _log(tx, pid)
    events = [r for r in log if reader.sees_event(r)]
    return {"pid": pid, "purpose": purpose, "events": events, "withheld": len(log) - len(events)}


def entitlements_of(tx: Tx, pid: str, purpose: str) -> Obj:
    reader = Reader(tx, purpose)
    open_ones = entitlements.open_for_pid(tx, pid)
    found = [_entitlement(reader, e) for e in open_ones if reader.sees_entitlement(e)]
    found.sort(key=lambda e: (e["start"], e["end"], e["entitlement_id"]))
    withheld = len(open_ones) - len(found)
    return {"pid": pid, "purpose": purpose, "entitlements": found, "withheld": withheld}


def _entitlement(reader: Reader, entitlement: Obj) -> Obj:
    """What was delivered against it is assistance data: without her consent to that
    category, the amounts delivered and left, and when it last changed, are withheld.
    Of the grants it was flagged a possible duplicate of, it names those the reader sees:
    an ID tells that another agency gave her the same assistance then."""
    view = entitlements.view(entitlement)
    view["possible_duplicate_of"] = [
        d for d in view["possible_duplicate_of"] if reader.sees_entitlement_id(d)
    ]
    if reader.sees_assistance(entitlement):
        return view
    return {**view, "delivered": None, "remaining": None, "updated_at": None}


def _referral_item(reader: Reader, referral: Obj, log: list[Obj]) -> Obj:
    """The referral with its events from her `log`, or only its ID when withheld."""
    if not reader.sees_referral(referral):
        return {"referral_id": referral["referral_id"], "withheld": True}
    events = [
        r
        for r in log
        if r["category"] == "referrals" and r["event"]["referral_id"] == referral["referral_id"]
    ]
    return {**referral, "events": events, "withheld": False}


def referral(tx: Tx, referral_id: str, purpose: str) -> Obj:
    return _visible(tx, Reader(tx, purpose), referrals.load(tx, referral_id))[0]


def _visible(tx: Tx, reader: Reader, referral: Obj) -> tuple[Obj, list[Obj]]:
    """A referral the reader may see, with her log; else as if unknown (a refusal would
    tell that the ID exists)."""
    if not reader.sees_referral(referral):
        raise NotFoundError("referral_not_found", "no such referral", "referral_id")
    log = _log(tx, referral["pid"])
    return _referral_item(reader, referral, log), log


def referral_chain(tx: Tx, referral_id: str, purpose: str) -> Obj:
    """The referral, then its parent, grandparent, ... up to the root: all about one
    person (the contract refuses a parent about another), so her log is read once. It
    ends at the first link the reader may not see: that link's parent is part of it."""
    reader = Reader(tx, purpose)
    first, log = _visible(tx, reader, referrals.load(tx, referral_id))
    chain = [first]
    parent_id = first["parent_referral_id"]
    while parent_id is not None and len(chain) < MAX_CHAIN:
        parent = referrals.load(tx, parent_id)
        chain.append(_referral_item(reader, parent, log))
        if chain[-1]["withheld"]:
            break
        parent_id = parent["parent_referral_id"]
    return {"referral_id": referral_id, "purpose": purpose, "chain": chain}


REFERRAL_DIRECTIONS = {"incoming": INBOX, "outgoing": OUTBOX}
MAX_PAGE = 200  # referrals a page of an inbox or outbox holds at most


def referrals_of_org(
    tx: Tx,
    direction: str,
    state: str | None,
    after: tuple[str, str] | None = None,
    limit: int = MAX_PAGE,
) -> Obj:
    """The reader's own referrals, received or sent, oldest first, the `limit` after
    `after` (created_at, referral_id), optionally in one state: a page of an agency's
    inbox or outbox. A range of its own box, read no further than the page needs
    (`more`: whether another page follows), whatever the other agencies' referrals."""
    box = REFERRAL_DIRECTIONS[direction]
    start = composite_key(box, [tx.org, *after]) + "\x00" if after else composite_key(box, [tx.org])
    end = composite_key(box, [tx.org]) + MAX_UNICODE
    found: list[Obj] = []
    while len(found) <= limit:
        keys = tx.page(start, end, limit + 1)
        for key in keys:
            referral = referrals.load(tx, split_composite_key(key)[1][2])
            if state is None or referral["state"] == state:
                found.append(referral)
        if len(keys) <= limit:
            break
        start = keys[-1] + "\x00"
    return {
        "direction": direction,
        "state": state,
        "referrals": found[:limit],
        "more": len(found) > limit,
    }


def consents_of(tx: Tx, pid: str) -> Obj:
    reader = Reader(tx, None)
    found = [consent.view(c, tx.date) for c in consent.for_pid(tx, pid) if reader.sees_consent(c)]
    found.sort(key=lambda c: (c["granted_at"], c["consent_id"]))
    return {"pid": pid, "consents": found}


def event(tx: Tx, event_id: str, purpose: str | None) -> Obj:
    """The caller's own organisation's event of this ID, else the one other organisation's
    event of this ID it may read; several such answer as a conflict (the record's
    ``tx_id`` or the person's history tell them apart)."""
    reader = Reader(tx, purpose)
    visible: list[Obj] = []
    for org, receipt in receipts(tx, event_id):
        result = receipt["result"]
        record = tx.get(event_key(result["pid"], result["timestamp"], event_id, org))
        if record is None or not reader.sees_event(record):
            continue  # what the caller may not read is as if unknown
        if org == tx.org:
            return record
        visible.append(record)
    if not visible:
        raise NotFoundError("event_not_found", "no such event", "event_id")
    if len(visible) > 1:
        raise ConflictError(
            "event_id_ambiguous", "several organisations' events have this ID", "event_id"
        )
    return visible[0]
