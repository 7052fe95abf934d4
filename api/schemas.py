"""Marshmallow schemas of the HTTP API. Events themselves are checked by the contract's own
schemas (in the service layer), so the gateway and the ledger can never disagree."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from chaincode.fields import PURPOSES

PURPOSE = fields.String(
    required=True,
    validate=validate.OneOf(sorted(PURPOSES)),
    metadata={"description": "why the caller reads: the consent must cover it"},
)


class ProblemSchema(Schema):
    """RFC 9457 problem details, with a stable `code` and the offending `field`."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "stable error code"})
    field = fields.String(metadata={"description": "the offending field, when there is one"})
    instance = fields.String(required=True)


Attributes = fields.Dict(
    keys=fields.String(),
    values=fields.String(),
    metadata={"description": "identity attributes, e.g. given_name, family_name, date_of_birth"},
)


class RegistrationIn(Schema):
    attributes = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    id_scheme = fields.String(
        load_default="keyed",
        validate=validate.OneOf(["keyed", "held"]),
        metadata={"description": "keyed: HMAC of the attributes; held: a new person-held ID"},
    )
    held_id = fields.String(metadata={"description": "a person-held ID she already carries"})


class CorrectionIn(Schema):
    attributes = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class RegistrationOut(Schema):
    person_id = fields.String(required=True)
    pid = fields.String(required=True)
    attributes = fields.Dict(keys=fields.String(), values=fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class DocumentIn(Schema):
    kind = fields.String(
        required=True, validate=validate.OneOf(["referral", "consent_form", "other"])
    )
    content = fields.String(required=True, validate=validate.Length(min=1, max=1 << 20))


class DocumentOut(Schema):
    document_id = fields.String(required=True)
    kind = fields.String(required=True)
    hash = fields.String(required=True, metadata={"description": "keyed hash to put in an event"})
    pid = fields.String()
    content = fields.String()
    created_at = fields.DateTime()


class PseudonymIn(Schema):
    attributes = fields.Dict(keys=fields.String(), values=fields.String())
    held_id = fields.String()


class PseudonymOut(Schema):
    pid = fields.String(required=True)
    scheme = fields.String(required=True)
    registered = fields.Boolean(
        required=True, metadata={"description": "whether this agency has registered her"}
    )


class EventIn(Schema):
    """One event: `event_id` (a client-chosen UUID), `type`, and the type's own fields."""

    class Meta:
        unknown = INCLUDE

    event_id = fields.String(required=True)
    type = fields.String(required=True)


class EventResult(Schema):
    class Meta:
        unknown = INCLUDE

    event_id = fields.String(required=True)
    type = fields.String(required=True)
    tx_id = fields.String(required=True)
    timestamp = fields.String(required=True)
    pid = fields.String(required=True)
    possible_duplicate_of = fields.List(fields.String())


class BatchIn(Schema):
    events = fields.List(fields.Dict(), required=True)


class BatchItem(Schema):
    event_id = fields.String(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["accepted", "replayed", "rejected"])
    )
    result = fields.Dict()
    error = fields.Dict()


class BatchOut(Schema):
    results = fields.List(fields.Nested(BatchItem), required=True)
    accepted = fields.Integer(required=True)
    replayed = fields.Integer(required=True)
    rejected = fields.Integer(required=True)


class PurposeArgs(Schema):
    purpose = PURPOSE


class ReferralArgs(Schema):
    purpose = fields.String(load_default="referral", validate=validate.OneOf(sorted(PURPOSES)))


class OptionalPurposeArgs(Schema):
    purpose = fields.String(validate=validate.OneOf(sorted(PURPOSES)))


class EventRecord(Schema):
    event = fields.Dict(required=True)
    org = fields.String(required=True)
    tx_id = fields.String(required=True)
    timestamp = fields.String(required=True)
    category = fields.String(required=True)
    pid = fields.String(required=True)


class HistoryOut(Schema):
    pid = fields.String(required=True)
    purpose = fields.String(required=True)
    events = fields.List(fields.Nested(EventRecord), required=True)


class EntitlementsOut(Schema):
    pid = fields.String(required=True)
    purpose = fields.String(required=True)
    entitlements = fields.List(fields.Dict(), required=True)


class ConsentsOut(Schema):
    pid = fields.String(required=True)
    consents = fields.List(fields.Dict(), required=True)


class ReferralOut(Schema):
    class Meta:
        unknown = INCLUDE

    referral_id = fields.String(required=True)
    withheld = fields.Boolean(required=True)
    events = fields.List(fields.Nested(EventRecord))


class ChainOut(Schema):
    referral_id = fields.String(required=True)
    purpose = fields.String(required=True)
    chain = fields.List(fields.Dict(), required=True)


class InclusionArgs(Schema):
    index = fields.Integer(validate=validate.Range(min=0))
    tx_id = fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    size = fields.Integer(validate=validate.Range(min=1))


class InclusionOut(Schema):
    index = fields.Integer(required=True)
    size = fields.Integer(required=True)
    leaf_hash = fields.String(required=True)
    entry = fields.String(required=True, metadata={"description": "base64 of the log entry"})
    proof = fields.List(fields.String(), required=True)
    checkpoint = fields.String(required=True)


class ConsistencyArgs(Schema):
    size1 = fields.Integer(required=True, validate=validate.Range(min=1))
    size2 = fields.Integer(validate=validate.Range(min=1))


class ConsistencyOut(Schema):
    size1 = fields.Integer(required=True)
    size2 = fields.Integer(required=True)
    proof = fields.List(fields.String(), required=True)
    checkpoint1 = fields.String(required=True)
    checkpoint2 = fields.String(required=True)


class CheckpointOut(Schema):
    size = fields.Integer(required=True)
    note = fields.String(required=True, metadata={"description": "C2SP signed note"})


class CosignIn(Schema):
    size = fields.Integer(validate=validate.Range(min=1))


class HealthOut(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())
