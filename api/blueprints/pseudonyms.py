"""/v1/pseudonyms: derive a pseudonymous ID without storing anything (duplicate checks)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.auth import audit_pid, caller, gateway
from api.blueprints.common import protected
from api.schemas import PseudonymIn, PseudonymOut
from ledger_gw.services import registrations
from ledger_gw.services.access import Action

blp = Blueprint(
    "pseudonyms", __name__, url_prefix="/v1/pseudonyms", description="Keyed pseudonymous IDs"
)


@blp.route("", methods=["POST"])
@protected(blp, Action.PSEUDONYMS, 400, 422)
@blp.arguments(PseudonymIn)
@blp.response(200, PseudonymOut)
def derive(body: dict[str, Any]) -> Any:
    """The keyed pseudonymous ID of identity attributes, or a checked person-held ID."""
    gw, who = gateway(), caller()
    attributes = body.get("attributes")
    if attributes is not None and body.get("held_id") is None:
        pid = registrations.keyed_pid(gw, who, attributes)
    else:
        pid = registrations.derive_pid(gw, attributes, body.get("held_id"))
    audit_pid(pid)
    return {
        "pid": pid,
        "scheme": "held" if pid.startswith("h.") else "keyed",
        "registered": registrations.is_registered(gw, who, pid),
    }
