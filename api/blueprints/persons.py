"""/v1/persons/{pid}: what the ledger holds about a pseudonymous person, consent-gated."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.auth import caller, gateway
from api.blueprints.common import paged, protected
from api.schemas import ConsentsOut, EntitlementsOut, HistoryOut, PageArgs, PurposeArgs
from ledger_gw.services import queries
from ledger_gw.services.access import Action

blp = Blueprint(
    "persons", __name__, url_prefix="/v1/persons", description="History, entitlements, consent"
)


@blp.route("/<pid>/history", methods=["GET"])
@protected(blp, Action.PERSONS_READ, 422)
@blp.arguments(PurposeArgs, location="query")
@blp.response(200, HistoryOut)
def history(args: dict[str, Any], pid: str) -> Any:
    """Her events: the caller's own, and others' where her active consent covers the purpose;
    `withheld` counts the others."""
    return paged(
        queries.history_page(
            gateway(), caller(), pid, args["purpose"], args.get("cursor"), args["limit"]
        )
    )


@blp.route("/<pid>/entitlements", methods=["GET"])
@protected(blp, Action.PERSONS_READ, 422)
@blp.arguments(PurposeArgs, location="query")
@blp.response(200, EntitlementsOut)
def entitlements(args: dict[str, Any], pid: str) -> Any:
    """Her open entitlements the caller may see (for duplicate checks); `withheld` counts
    the open ones it may not."""
    return paged(
        queries.entitlements_page(
            gateway(), caller(), pid, args["purpose"], args.get("cursor"), args["limit"]
        )
    )


@blp.route("/<pid>/consents", methods=["GET"])
@protected(blp, Action.PERSONS_READ, 422)
@blp.arguments(PageArgs, location="query")
@blp.response(200, ConsentsOut)
def consents(args: dict[str, Any], pid: str) -> Any:
    """Her consent records the caller may see."""
    return paged(queries.consents_page(gateway(), caller(), pid, args.get("cursor"), args["limit"]))
