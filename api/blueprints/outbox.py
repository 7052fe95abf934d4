"""/v1/outbox: events this gateway captured while its log node could not be reached."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.auth import caller, gateway
from api.blueprints.common import paged, protected
from api.schemas import OutboxArgs, OutboxItem, OutboxOut
from ledger_gw.services import outbox
from ledger_gw.services.access import Action

blp = Blueprint("outbox", __name__, url_prefix="/v1/outbox", description="Offline capture")


@blp.route("", methods=["GET"])
@protected(blp, Action.EVENTS_WRITE, 422)
@blp.arguments(OutboxArgs, location="query")
@blp.response(200, OutboxOut)
def listing(args: dict[str, Any]) -> Any:
    """The caller's organisation's events answered 202, a page at a time in capture
    order (`state` for one kind only), with the whole outbox's totals: pending ones wait
    for the log node (synced in the background and on every request); failed ones were
    refused by the contract when they reached it, with its error, and are never retried
    (submit a corrected event under a new event_id)."""
    return paged(
        outbox.listing(gateway(), caller(), args.get("state"), args.get("cursor"), args["limit"])
    )


@blp.route("/<int:seq>", methods=["DELETE"])
@protected(blp, Action.EVENTS_WRITE, 404, 409)
@blp.response(200, OutboxItem)
def dismiss(seq: int) -> Any:
    """Dismiss one of the caller's organisation's failed items, once its refusal has been
    dealt with (a corrected event submitted under a new event_id): it leaves the outbox,
    and the answer is the item as it was. A pending item cannot be dismissed
    (`outbox_item_pending`): it is logged when the log node returns."""
    return outbox.dismiss(gateway(), caller(), seq)
