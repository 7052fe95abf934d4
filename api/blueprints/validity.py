"""/v1/validity: what the members this gateway signs for state about the Fabric
channel's validity log, for the other members' gateways to put in their bundles.

Hashes and a signature, nothing about any person: no token needed.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.auth import gateway
from api.blueprints.common import errors
from api.schemas import MAX_SIZE, ValidityOut
from ledger_gw.errors import NotFoundError
from ledger_gw.services import validity

blp = Blueprint(
    "validity",
    __name__,
    url_prefix="/v1/validity",
    description="Fabric: the members' signed statements of which transactions are valid",
)


@blp.route("/<int:height>", methods=["GET"])
@errors(blp, 404, 409, 503)
@blp.response(200, ValidityOut)
def at_height(height: int) -> Any:
    """The validity log at block height `height`, as this gateway's members sign it
    (a C2SP checkpoint note with one cosignature each). 404 beyond the head; 409 on
    the embedded ledger (`no_validity_log`) or when this gateway holds no witness key
    (`no_validity_key`)."""
    if height > MAX_SIZE:
        raise NotFoundError(f"no block height {height}", code="not_found")
    return {"height": height, "statement": validity.statement(gateway().log, height)}
