"""What an offline gateway captured and has not logged yet: pending items wait for the
log node, failed ones were refused by the contract when they reached it, and stay until
their caller dismisses them."""

from __future__ import annotations

from typing import Any

from ledger_gw.errors import NotFoundError
from ledger_gw.interfaces import Deferring
from ledger_gw.services.access import Caller
from ledger_gw.services.gateway import Gateway


def listing(gateway: Gateway, caller: Caller) -> dict[str, Any]:
    """The caller's organisation's items, in capture order (none on a backend that
    appends while it answers)."""
    ledger = gateway.ledger
    items = ledger.outbox_items(caller.org) if isinstance(ledger, Deferring) else []
    return {
        "pending": [i for i in items if i["state"] == "pending"],
        "failed": [i for i in items if i["state"] == "failed"],
    }


def dismiss(gateway: Gateway, caller: Caller, seq: int) -> dict[str, Any]:
    """The caller's organisation's failed item `seq`, removed from the outbox."""
    ledger = gateway.ledger
    if not isinstance(ledger, Deferring):
        raise NotFoundError("this gateway keeps no outbox", code="outbox_item_not_found")
    return ledger.dismiss_outbox_item(caller.org, seq)
