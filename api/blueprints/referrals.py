"""/v1/referrals: an agency's inbox and outbox, a referral and its chain of parents."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.auth import audit_pid, caller, gateway
from api.blueprints.common import paged, protected
from api.schemas import ChainOut, ReferralArgs, ReferralListArgs, ReferralListOut, ReferralOut
from ledger_gw.services import queries
from ledger_gw.services.access import Action

blp = Blueprint("referrals", __name__, url_prefix="/v1/referrals", description="Referrals")


@blp.route("", methods=["GET"])
@protected(blp, Action.PERSONS_READ, 422)
@blp.arguments(ReferralListArgs, location="query")
@blp.response(200, ReferralListOut)
def inbox(args: dict[str, Any]) -> Any:
    """The caller's agency's referrals: `incoming` (its inbox) or `outgoing` (its outbox),
    oldest first, optionally in one `state`."""
    out = queries.referrals_page(
        gateway(), caller(), args["direction"], args.get("state"), args.get("cursor"), args["limit"]
    )
    return paged(out)


@blp.route("/<uuid:referral_id>", methods=["GET"])
@protected(blp, Action.PERSONS_READ, 404, 422)
@blp.arguments(ReferralArgs, location="query")
@blp.response(200, ReferralOut)
def read(args: dict[str, Any], referral_id: Any) -> Any:
    """A referral with its events, when the caller is party to it or consent covers it."""
    out = queries.referral(gateway(), caller(), str(referral_id), args["purpose"])
    audit_pid(out.get("pid"))
    return out


@blp.route("/<uuid:referral_id>/chain", methods=["GET"])
@protected(blp, Action.PERSONS_READ, 404, 422)
@blp.arguments(ReferralArgs, location="query")
@blp.response(200, ChainOut)
def chain(args: dict[str, Any], referral_id: Any) -> Any:
    """The referral, its parent, grandparent... (withheld links are marked, not shown)."""
    out = queries.referral_chain(gateway(), caller(), str(referral_id), args["purpose"])
    audit_pid(out["chain"][0].get("pid") if out["chain"] else None)
    return out
