"""/v1/events: submit one event or a batch; every event has a client-chosen ID."""

from __future__ import annotations

from typing import Any

from flask import make_response, request
from flask_smorest import Blueprint

from api.auth import audit_pid, caller, gateway
from api.blueprints.common import protected
from api.event_docs import BATCH_BODY, EVENT_BODY
from api.metrics import EVENTS
from api.schemas import (
    BATCH_STATUSES,
    BatchIn,
    BatchOut,
    EventQueued,
    EventRecord,
    EventResult,
    OptionalPurposeArgs,
)
from ledger_gw.errors import MalformedError
from ledger_gw.services import events, queries
from ledger_gw.services.access import Action

blp = Blueprint("events", __name__, url_prefix="/v1/events", description="Ledger events")


def _json_body() -> Any:
    """The body, read strictly (before the view, see `api.json_provider`); its fields are
    the contract's to check."""
    if not request.is_json:
        raise MalformedError("the body must be JSON (application/json)", code="malformed_request")
    return request.get_json()


@blp.route("", methods=["POST"])
@protected(blp, Action.EVENTS_WRITE, 400, 404, 409, 422)
@blp.doc(requestBody=EVENT_BODY)
@blp.response(201, EventResult, description="Appended to the ledger")
@blp.alt_response(200, schema=EventResult, description="Already recorded: the original result")
@blp.alt_response(
    202,
    schema=EventQueued,
    description="The log node cannot be reached: signed and kept in this gateway's outbox, "
    "to be logged in order when it returns (GET /v1/outbox)",
)
def submit() -> Any:
    """Sign and submit one event as the caller's organisation. Resubmission is idempotent.
    A malformed event is refused with every field error at once (`errors`)."""
    result, status = events.submit(gateway(), caller(), _json_body())
    EVENTS.labels(status).inc()
    if status == "queued":
        return make_response(EventQueued().dump(result), 202)
    audit_pid(result.get("pid"))
    return result, 201 if status == "accepted" else 200


@blp.route("/batch", methods=["POST"])
@protected(blp, Action.EVENTS_WRITE, 400, 422)
@blp.arguments(BatchIn)
@blp.doc(requestBody=BATCH_BODY)
@blp.response(200, BatchOut)
def submit_batch(body: dict[str, Any]) -> Any:
    """Submit up to LEDGER_GW_MAX_BATCH events. A malformed event refuses the whole batch;
    the contract's verdict on each well-formed event is reported per event."""
    results = events.submit_batch(gateway(), caller(), body["events"])
    counts = {s: sum(1 for r in results if r["status"] == s) for s in BATCH_STATUSES}
    for status, n in counts.items():
        EVENTS.labels(status).inc(n)
    return {"results": results, **counts}


@blp.route("/<uuid:event_id>", methods=["GET"])
@protected(blp, Action.PERSONS_READ, 404, 422)
@blp.arguments(OptionalPurposeArgs, location="query")
@blp.response(200, EventRecord)
def read(args: dict[str, Any], event_id: Any) -> Any:
    """One event record, if the caller wrote it or her consent covers the purpose."""
    record = queries.event(gateway(), caller(), str(event_id), args.get("purpose"))
    audit_pid(record.get("pid"))
    return record
