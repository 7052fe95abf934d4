"""/v1/proofs and /v1/checkpoints: evidence that the log is append-only and holds an entry."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.auth import caller, gateway
from api.blueprints.common import protected
from api.schemas import (
    MAX_SIZE,
    CheckpointOut,
    ConsistencyArgs,
    ConsistencyOut,
    CosignIn,
    InclusionArgs,
    InclusionOut,
)
from ledger_gw.errors import NotFoundError, ValidationError
from ledger_gw.services import proofs
from ledger_gw.services.access import Action

blp = Blueprint(
    "proofs",
    __name__,
    url_prefix="/v1",
    description="Proofs and checkpoints: Merkle (embedded), blocks (Fabric)",
)


@blp.route("/proofs/inclusion", methods=["GET"])
@protected(blp, Action.PROOFS_READ, 404, 422)
@blp.arguments(InclusionArgs, location="query")
@blp.response(200, InclusionOut)
def inclusion(args: dict[str, Any]) -> Any:
    """Inclusion proof of one entry (by `index` or `tx_id`) in the tree of `size`.

    The entry itself (embedded: `entry`; Fabric: `evidence`, whose blocks hold the event)
    comes only to a caller who may read that event, as `GET /v1/events/{id}` decides
    (with `purpose` for consent); everyone else, donors always, gets the leaf hash and
    the proof (Fabric: the block headers from the transaction's block to the head)."""
    if ("index" in args) == ("tx_id" in args):
        raise ValidationError("give index or tx_id", code="invalid_request", field="index")
    return proofs.inclusion_for(
        gateway(),
        caller(),
        args.get("index"),
        args.get("tx_id"),
        args.get("size"),
        args.get("purpose"),
    )


@blp.route("/proofs/consistency", methods=["GET"])
@protected(blp, Action.PROOFS_READ, 404, 422)
@blp.arguments(ConsistencyArgs, location="query")
@blp.response(200, ConsistencyOut)
def consistency(args: dict[str, Any]) -> Any:
    """Proof that the tree of `size1` is a prefix of the tree of `size2` (default latest)."""
    return proofs.consistency(gateway().log, args["size1"], args.get("size2"))


@blp.route("/checkpoints/latest", methods=["GET"])
@protected(blp, Action.PROOFS_READ, 404)
@blp.response(200, CheckpointOut)
def latest() -> Any:
    """The newest signed checkpoint with its cosignatures."""
    return proofs.checkpoint(gateway().log, None)


@blp.route("/checkpoints/<int:size>", methods=["GET"])
@protected(blp, Action.PROOFS_READ, 404)
@blp.response(200, CheckpointOut)
def at_size(size: int) -> Any:
    """The signed checkpoint of one tree size (404 for any size the log cannot have)."""
    if size > MAX_SIZE:
        raise NotFoundError(f"no checkpoint of size {size}", code="not_found")
    return proofs.checkpoint(gateway().log, size)


@blp.route("/checkpoints/cosign", methods=["POST"])
@protected(blp, Action.CHECKPOINTS_COSIGN, 400, 404, 409, 422)
@blp.arguments(CosignIn)
@blp.response(200, CheckpointOut)
def cosign(body: dict[str, Any]) -> Any:
    """Ask the consortium's witnesses now to cosign a checkpoint (default the latest).

    The ledger's node pushes every new checkpoint to the witnesses the consortium file
    names, in the background; this asks at once those that have not cosigned this one
    yet, and answers the note with the cosignatures they gave. 404 for a size the log
    has no checkpoint of; 409 when every witness has already cosigned it
    (`already_cosigned`), when the consortium lists none (`no_witnesses`), when the
    witnesses refuse (`witness_refused`), or on Fabric (`witnesses_not_applicable`);
    503 when none can be reached (`witnesses_unavailable`). The gateway holds no
    witness key: only the witnesses cosign.
    """
    return proofs.cosign(gateway().log, body.get("size"))
