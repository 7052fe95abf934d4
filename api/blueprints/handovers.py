"""/v1/handovers: a referral's hand-over package, sealed by this agency to the receiver.

The referring caseworker seals one (bearer token); the receiving organisation's gateway
fetches it with a request its organisation signed, not with a token of this gateway.
Expired packages are deleted as the gateway starts, and at every seal and fetch; those
the ledger now refuses (the referral closed, its consent withdrawn), as the gateway
starts and at every fetch."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, request
from flask.blueprints import BlueprintSetupState
from flask_smorest import Blueprint

from api.auth import audit_pid, caller, gateway
from api.blueprints.common import errors, protected
from api.schemas import HandoverIn, HandoverOut
from ledger_gw.errors import LedgerError
from ledger_gw.services import handover
from ledger_gw.services.access import Action
from ledger_gw.services.gateway import Gateway

log = logging.getLogger(__name__)

blp = Blueprint(
    "handovers",
    __name__,
    url_prefix="/v1/handovers",
    description="Referral hand-overs between agencies' gateways",
)


@blp.record_once
def _purge_at_start(state: BlueprintSetupState) -> None:
    """A package nobody may fetch since the gateway stopped (expired, its referral closed)
    is deleted now, not at the next hand-over; a database or ledger unavailable now
    leaves it to that."""
    served: Gateway = state.app.extensions["ledger_gw"]
    try:
        handover.purge_unfetchable(served)
    except LedgerError:
        log.exception("hand-over packages nobody may fetch not purged at start")


@blp.route("", methods=["POST"])
@protected(blp, Action.EVENTS_WRITE, 400, 404, 409, 422)
@blp.arguments(HandoverIn)
@blp.response(201, HandoverOut)
def create(body: dict[str, Any]) -> Any:
    """Seal her registration and a note to the referral's receiver, under the consent the
    referral cites; the ledger records the package's salted hash only."""
    out = handover.prepare(gateway(), caller(), str(body["referral_id"]), body["note"])
    audit_pid(out["pid"])
    return out


@blp.route("/<uuid:referral_id>", methods=["GET"])
@errors(blp, 401, 403, 404, 409, 503)
@blp.doc(
    description="For the receiving organisation's gateway only: signed with its "
    "organisation's key (Ledger-Org-Certificate, Ledger-Timestamp, Ledger-Nonce, "
    "Ledger-Signature), answered once, then deleted here. Each fetch, released or "
    "refused, is recorded in the referring agency's audit log with the organisation "
    "that signed it."
)
def fetch(referral_id: Any) -> Any:
    """The sealed package, to the organisation it is sealed to; the release records
    itself in the audit log (no bearer token: the ordinary record does not)."""
    sealed = handover.release(gateway(), str(referral_id), dict(request.headers))
    return Response(sealed, status=200, mimetype="application/json")
