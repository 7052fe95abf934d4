"""What an offline gateway captured and has not logged yet: pending items wait for the
log node, failed ones were refused by the contract when they reached it, and stay until
their caller dismisses them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ledger_gw.errors import NotFoundError, ValidationError
from ledger_gw.interfaces import Deferring
from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway
from ledger_gw.services.pages import DEFAULT_LIMIT, Key, check_limit, decode_as, page_of

STATES = ("pending", "failed")
_KIND = "outbox"


def listing(
    gateway: Gateway,
    caller: Caller,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """A page of the caller's organisation's items in capture order, all or of one
    `state`, and how many of each it holds in all: an outbox that waited days for its
    log node is read a page at a time (none on a backend that appends while it answers)."""
    check_limit(limit)
    if state is not None and state not in STATES:
        raise ValidationError(
            f"state is one of {', '.join(STATES)}", code="invalid_value", field="state"
        )
    after = decode_as(_KIND, cursor, _seq) if cursor else 0
    ledger = gateway.ledger
    items: Iterator[dict[str, Any]] = iter(())
    totals = dict.fromkeys(STATES, 0)
    if isinstance(ledger, Deferring):
        items = ledger.outbox_items(caller.org, after, state)
        totals = ledger.outbox_counts(caller.org)
    page = page_of(_KIND, items, lambda item: (str(item["seq"]),), limit)
    return {
        "pending": [i for i in page.items if i["state"] == "pending"],
        "failed": [i for i in page.items if i["state"] == "failed"],
        "next": page.next,
        "totals": totals,
    }


def _seq(key: Key) -> int:
    """The item number a cursor names (ValueError for none a page could show)."""
    (text,) = key
    seq = int(text)
    if not 0 < seq < 1 << 63 or text != str(seq):
        raise ValueError(text)
    return seq


def refused(gateway: Gateway, caller: Caller, seq: int) -> dict[str, Any]:
    """The caller's organisation's failed item `seq` (NotFoundError when it has no such
    refusal to dismiss)."""
    ledger = gateway.ledger
    if isinstance(ledger, Deferring):  # a number no item can have finds none
        found = next(ledger.outbox_items(caller.org, seq - 1, "failed"), None)
        if found is not None and found["seq"] == seq:
            return found
    raise NotFoundError(f"{caller.org} has no refused event {seq}", code="outbox_item_not_found")


def dismiss(gateway: Gateway, caller: Caller, seq: int) -> dict[str, Any]:
    """The caller's organisation's failed item `seq`, removed from the outbox."""
    ledger = gateway.ledger
    if not isinstance(ledger, Deferring):
        raise NotFoundError("this gateway keeps no outbox", code="outbox_item_not_found")
    return ledger.dismiss_outbox_item(caller.org, seq)
