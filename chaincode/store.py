"""Key layout and a staging view of one transaction.

Layout (all values canonical JSON; see `keys` below). Only objects that are
changed by their own transitions are ever rewritten (a referral, an entitlement,
a consent); everything else is one new key per event, so concurrent transactions
about different objects never touch the same key (Fabric MVCC).

Writes are staged and applied only when the whole transaction succeeded, so a
ContractError raised anywhere leaves the ledger untouched. Reads do not see staged
writes, exactly as in Fabric.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import orjson

from chaincode.canonical import canonical_json_of_validated
from chaincode.stub import Identity, Stub, composite_key

Obj = dict[str, Any]

# [event_id, org] -> content hash and the original result. Event IDs are
# each organisation's own: the same ID from another organisation is another event, so a
# write never tells whether someone else used an ID.
RECEIPT = "receipt"
REFERRAL = "referral"  # [referral_id] -> referral object (current state)
ENTITLEMENT = "entitlement"  # [entitlement_id] -> entitlement object (current state)
CONSENT = "consent"  # [consent_id] -> consent object (current state)
# Everything kept per person shares one prefix, [pid, ...], so that her keys sit side by
# side in a sorted store: recording an event for her, which writes her history and an
# index entry, changes one page rather than two in places far apart.
PERSON = "person"
# [pid, "event", timestamp, event_id, org] -> event record: her log in time order
HISTORY = "event"
# [pid, "entitlement", assistance_type] -> {"open": [{"entitlement_id", "start", "end"},
# ...]}: her open (active or suspended) entitlements of one type, what the overlap check
# needs, so a grant reads one key (a point read costs the peers less to endorse and
# validate than a range, and two grants that must see each other still conflict on it)
ENTITLEMENTS = "entitlement"
CONSENTS = "consent"  # [pid, "consent", consent_id] -> {"consent_id"}
# An agency's referrals, received and sent, oldest first, so that its inbox and outbox
# are ranges of its own, read a page at a time:
# [to_org, created_at, referral_id] -> {} and [from_org, created_at, referral_id] -> {}
INBOX = "inbox"
OUTBOX = "outbox"


def event_key(pid: str, timestamp: str, event_id: str, org: str) -> str:
    return composite_key(PERSON, [pid, HISTORY, timestamp, event_id, org])


def receipt_key(event_id: str, org: str) -> str:
    """An event is known by its ID and the organisation that wrote it."""
    return composite_key(RECEIPT, [event_id, org])


def receipts(tx: Tx, event_id: str) -> Iterator[tuple[str, Obj]]:
    """Every organisation's receipt for one event ID: (org, receipt)."""
    for key, receipt in tx.scan(RECEIPT, [event_id]):
        yield key.split("\x00")[3], receipt


def referral_key(referral_id: str) -> str:
    return composite_key(REFERRAL, [referral_id])


def entitlement_key(entitlement_id: str) -> str:
    return composite_key(ENTITLEMENT, [entitlement_id])


def open_entitlements_key(pid: str, assistance_type: str) -> str:
    return composite_key(PERSON, [pid, ENTITLEMENTS, assistance_type])


def box_key(box: str, org: str, created_at: str, referral_id: str) -> str:
    return composite_key(box, [org, created_at, referral_id])


def consent_key(consent_id: str) -> str:
    return composite_key(CONSENT, [consent_id])


def consent_index_key(pid: str, consent_id: str) -> str:
    return composite_key(PERSON, [pid, CONSENTS, consent_id])


def iso_timestamp(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 (microseconds, "Z"), so keys sort in time order."""
    if moment.tzinfo is None:
        raise ValueError("transaction timestamps must be timezone-aware")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _decode(raw: bytes) -> Obj:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("stored values are JSON objects")
    return value


class Tx:
    """What a handler sees of one transaction: identity, time, reads, staged writes."""

    def __init__(self, stub: Stub) -> None:
        self.stub = stub
        self.creator: Identity = stub.creator
        self.tx_id: str = stub.tx_id
        self.timestamp: str = iso_timestamp(stub.tx_timestamp)
        self.date: date = stub.tx_timestamp.astimezone(UTC).date()
        self._read: dict[str, bytes | None] = {}  # each key read, as read: writes are unseen
        self._writes: dict[str, bytes] = {}
        self._event: tuple[str, bytes] | None = None

    @property
    def org(self) -> str:
        return self.creator.org_id

    def get(self, key: str) -> Obj | None:
        """A key's value as the transaction found it: read from the stub once."""
        if key in self._read:
            raw = self._read[key]
        else:
            raw = self._read[key] = self.stub.get_state(key)
        return None if raw is None else _decode(raw)

    def read_ahead(self, keys: list[str]) -> None:
        """Read these keys in one request, for the `get`s that follow: on Fabric one
        message to the peer where it takes several, not one each."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self._read]
        if wanted:
            self._read.update(zip(wanted, self.stub.get_states(wanted), strict=True))

    def scan(self, object_type: str, attributes: list[str]) -> Iterator[tuple[str, Obj]]:
        for key, raw in self.stub.get_state_by_partial_composite_key(object_type, attributes):
            yield key, _decode(raw)

    def page(self, start: str, end: str, limit: int) -> list[str]:
        """The keys of a range, at most `limit` of them (queries only)."""
        return [key for key, _ in self.stub.get_state_page(start, end, limit)]

    def of_person(self, pid: str, part: str, *attributes: str) -> Iterator[tuple[str, Obj]]:
        """Her keys of one part (HISTORY, ENTITLEMENTS or CONSENTS), in key order."""
        return self.scan(PERSON, [pid, part, *attributes])

    def put(self, key: str, value: Obj) -> None:
        self._writes[key] = canonical_json_of_validated(value)

    def emit(self, name: str, value: Obj) -> None:
        """The contract event: what a subscriber needs to find the record, not a copy of it
        (every byte of it travels to and is kept by every peer)."""
        self._event = (name, canonical_json_of_validated(value))

    def commit(self) -> None:
        """Apply the staged writes in the order they were staged, then the contract event."""
        for key, value in self._writes.items():
            self.stub.put_state(key, value)
        if self._event is not None:
            self.stub.set_event(*self._event)
