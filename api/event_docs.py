"""The OpenAPI of events: one schema per type, a union on `type`, a worked example each.

Read off the contract's own schemas (`ledger_gw.services.event_schema`), with examples
that this gateway's consortium accepts. The document only describes: request bodies are
still checked by the contract's schemas, as every event is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from apispec import APISpec

from chaincode.schemas import SCHEMAS
from ledger_gw.consortium import Consortium
from ledger_gw.services.event_examples import Example, examples
from ledger_gw.services.event_schema import event_schema, schema_name

EVENT = "Event"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def consortium_examples(consortium: Consortium, today: dt.date | None = None) -> dict[str, Example]:
    """The worked examples for this consortium: its first two agencies refer to each other
    (placeholders stand in for agencies it does not have)."""
    agencies = sorted(o for o, org in consortium.organisations.items() if org.role == "agency")
    pair = (
        (agencies[0], agencies[1]) if len(agencies) > 1 else ("SENDING-AGENCY", "RECEIVING-AGENCY")
    )
    return examples(
        pair,
        consortium.programmes,
        consortium.locations,
        consortium.ceilings,
        today or dt.datetime.now(dt.UTC).date(),
    )


def register(spec: APISpec, consortium: Consortium) -> None:
    """Add `Event` (the union) and one component per event type to the document."""
    worked = consortium_examples(consortium)
    for event_type in SCHEMAS:
        schema: dict[str, Any] = event_schema(event_type)
        example = worked[event_type]
        schema["description"] = f"`{event_type}` (in this example submitted by {example.by})"
        schema["example"] = example.event
        spec.components.schema(schema_name(event_type), schema)
    spec.components.schema(
        EVENT,
        {
            "description": (
                "One event: a client-chosen `event_id` (UUID), its `type`, and that type's "
                "own fields, nothing else. Every string matches its pattern or vocabulary."
            ),
            "oneOf": [_ref(schema_name(t)) for t in SCHEMAS],
            "discriminator": {
                "propertyName": "type",
                "mapping": {t: f"#/components/schemas/{schema_name(t)}" for t in SCHEMAS},
            },
        },
    )


#: The documented body of `POST /v1/events`.
EVENT_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": _ref(EVENT)}},
}
#: The documented body of `POST /v1/events/batch`.
BATCH_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["events"],
                "properties": {"events": {"type": "array", "items": _ref(EVENT), "minItems": 1}},
            }
        }
    },
}
