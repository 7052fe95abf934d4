"""Marshmallow schemas of the HTTP API. Events themselves are checked by the contract's own
schemas (in the service layer), so the gateway and the ledger can never disagree."""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from chaincode.fields import PURPOSES
from chaincode.referrals import STATES as REFERRAL_STATES
from ledger_gw.pseudonym import MAX_ATTRIBUTES, PseudonymError, check_bounds
from ledger_gw.services.pages import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT
from ledger_gw.services.registrations import MAX_SEARCH_CHARS
from ledger_gw.services.reports import DEFAULT_K, FIRST_DAY, LAST_DAY
from ledger_gw.strict_json import MAX_INTEGER

PURPOSE = fields.String(
    required=True,
    validate=validate.OneOf(sorted(PURPOSES)),
    metadata={"description": "why the caller reads: the consent must cover it"},
)


class FieldErrorSchema(Schema):
    field = fields.String(required=True, metadata={"description": "e.g. `amount`, `events[2].pid`"})
    code = fields.String(required=True)
    message = fields.String(required=True)
    allowed = fields.List(fields.String(), metadata={"description": "the values the field accepts"})
    pattern = fields.String(metadata={"description": "the pattern the field must match"})


class ProblemSchema(Schema):
    """RFC 9457 problem details, with a stable `code` and the offending `field`; a refused
    event lists every field error in `errors`, a registration conflict the `person_id`."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "stable error code"})
    field = fields.String(metadata={"description": "the offending field, when there is one"})
    instance = fields.String(required=True)
    errors = fields.List(
        fields.Nested(FieldErrorSchema),
        metadata={"description": "every field error of a refused event, the first as `field`"},
    )
    person_id = fields.String(
        metadata={"description": "`already_registered`: her existing registration"}
    )


class IdentityAttributes(fields.Dict):
    """Identity attributes, bounded before marshmallow walks them: a body of 100,000 keys
    is refused by its size, not after checking each key."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=fields.String(),
            values=fields.String(),
            metadata={
                "description": (
                    f"identity attributes (at most {MAX_ATTRIBUTES}), e.g. given_name, "
                    "family_name, date_of_birth"
                )
            },
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, dict):
            try:
                check_bounds(value)
            except PseudonymError as exc:
                raise ValidationError(str(exc)) from None
        return super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]


class RegistrationIn(Schema):
    attributes = IdentityAttributes(required=True)
    id_scheme = fields.String(
        load_default="keyed",
        validate=validate.OneOf(["keyed", "held"]),
        metadata={"description": "keyed: HMAC of the attributes; held: a new person-held ID"},
    )
    held_id = fields.String(metadata={"description": "a person-held ID she already carries"})
    referral_id = fields.UUID(
        metadata={
            "description": "a referral to this organisation that it accepted: she is "
            "registered under the referral's pseudonymous ID (no held_id or id_scheme)"
        }
    )


class HandoverIn(Schema):
    referral_id = fields.UUID(required=True)
    note = fields.String(
        load_default="",
        validate=validate.Length(max=4000),
        metadata={"description": "the referral note for the receiving caseworker"},
    )


class HandoverOut(Schema):
    referral_id = fields.String(required=True)
    to_org = fields.String(required=True)
    document_hash = fields.String(required=True)
    event_id = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class FromReferralIn(Schema):
    referral_id = fields.UUID(required=True)


class FromReferralOut(Schema):
    referral_id = fields.String(required=True)
    from_org = fields.String(required=True)
    pid = fields.String(required=True)
    attributes = fields.Dict(keys=fields.String(), values=fields.String())
    note = fields.String()
    document_hash = fields.String(required=True)


class CorrectionIn(Schema):
    attributes = IdentityAttributes(required=True)


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
    attributes = IdentityAttributes()
    held_id = fields.String()


class PseudonymOut(Schema):
    pid = fields.String(required=True)
    scheme = fields.String(required=True)
    registered = fields.Boolean(
        required=True, metadata={"description": "whether this agency has registered her"}
    )


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


class EventQueued(Schema):
    event_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.Equal("queued"))
    captured_at = fields.String(required=True)
    tx_id = fields.String(required=True)


BATCH_STATUSES = ("accepted", "replayed", "rejected", "queued")


class BatchItem(Schema):
    event_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(BATCH_STATUSES))
    result = fields.Dict()
    error = fields.Dict()


class BatchOut(Schema):
    results = fields.List(fields.Nested(BatchItem), required=True)
    accepted = fields.Integer(required=True)
    replayed = fields.Integer(required=True)
    rejected = fields.Integer(required=True)
    queued = fields.Integer(required=True)


class OutboxItem(Schema):
    seq = fields.Integer(required=True)
    event_id = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "The event's type"})
    captured_at = fields.String(required=True, metadata={"description": "When it was signed"})
    tx_id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(["pending", "failed"]))
    error = fields.Dict(
        allow_none=True, metadata={"description": "The contract's refusal, when failed"}
    )
    attempts = fields.Integer(required=True)


class PageArgs(Schema):
    """Cursor pagination: `cursor` is the `next` of the previous page, opaque."""

    cursor = fields.String(
        validate=validate.Length(max=MAX_CURSOR),
        metadata={"description": "the `next` of the previous page; absent for the first"},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"items per page, 1 to {MAX_LIMIT}"},
    )


NEXT = fields.String(
    required=True,
    allow_none=True,
    metadata={"description": "cursor of the following page (also a `Link: rel=next`); null last"},
)
WITHHELD = fields.Integer(
    required=True,
    metadata={
        "description": "records about her the caller may not see (no consent covers them): "
        "that they exist, not what they are"
    },
)


class OutboxArgs(PageArgs):
    state = fields.String(
        validate=validate.OneOf(["pending", "failed"]),
        metadata={"description": "only the items in this state; absent for both"},
    )


class OutboxTotals(Schema):
    pending = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class OutboxOut(Schema):
    pending = fields.List(
        fields.Nested(OutboxItem), required=True, metadata={"description": "this page's"}
    )
    failed = fields.List(
        fields.Nested(OutboxItem), required=True, metadata={"description": "this page's"}
    )
    next = NEXT
    totals = fields.Nested(
        OutboxTotals, required=True, metadata={"description": "the whole outbox's, not the page's"}
    )


class PurposeArgs(PageArgs):
    purpose = PURPOSE


class ReferralListArgs(PageArgs):
    direction = fields.String(
        required=True,
        validate=validate.OneOf(["incoming", "outgoing"]),
        metadata={"description": "incoming: referrals to the caller's agency; outgoing: from it"},
    )
    state = fields.String(validate=validate.OneOf(sorted(REFERRAL_STATES)))


class RegistrationSearchIn(PageArgs):
    """A search's terms travel in the body: a URL is kept by browsers' histories and
    proxies' logs, and these are names and birth dates."""

    q = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_SEARCH_CHARS),
        metadata={
            "description": "text a registration's attributes, pseudonymous ID or person ID "
            "contain (case-insensitive); only this agency's own registrations are searched"
        },
    )


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
    withheld = WITHHELD
    next = NEXT


class EntitlementsOut(Schema):
    pid = fields.String(required=True)
    purpose = fields.String(required=True)
    entitlements = fields.List(fields.Dict(), required=True)
    withheld = WITHHELD
    next = NEXT


class ConsentsOut(Schema):
    pid = fields.String(required=True)
    consents = fields.List(fields.Dict(), required=True)
    next = NEXT


class ReferralSummary(Schema):
    referral_id = fields.String(required=True)
    pid = fields.String(required=True)
    from_org = fields.String(required=True)
    to_org = fields.String(required=True)
    sector = fields.String(required=True)
    urgency = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(sorted(REFERRAL_STATES)))
    document_hash = fields.String(required=True)
    parent_referral_id = fields.String(required=True, allow_none=True)
    consent_id = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    outcome = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


class ReferralListOut(Schema):
    direction = fields.String(required=True)
    state = fields.String(required=True, allow_none=True)
    referrals = fields.List(fields.Nested(ReferralSummary), required=True)
    next = NEXT


class RegistrationListOut(Schema):
    registrations = fields.List(fields.Nested(RegistrationOut), required=True)
    next = NEXT


class ReferralOut(ReferralSummary):
    """A referral the caller may read (one it may not is 404): its state and parties as
    the inbox lists them, and its events."""

    withheld = fields.Boolean(required=True)
    events = fields.List(fields.Nested(EventRecord))


class ChainOut(Schema):
    referral_id = fields.String(required=True)
    purpose = fields.String(required=True)
    chain = fields.List(fields.Dict(), required=True)


# Sizes and positions beyond what JSON carries exactly (and far below the SQL BIGINT the
# database holds) are refused here (422 or 404), never by the database (500): the same
# bound as request bodies' numbers.
MAX_SIZE = MAX_INTEGER


def _size(low: int, **kw: Any) -> fields.Integer:
    return fields.Integer(validate=validate.Range(min=low, max=MAX_SIZE), **kw)


class InclusionArgs(Schema):
    index = _size(0)
    tx_id = fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    size = _size(1)
    purpose = fields.String(
        validate=validate.OneOf(sorted(PURPOSES)),
        metadata={"description": "the purpose consent must name for the entry to be returned"},
    )


_ON_FABRIC = "Fabric only"
_EMBEDDED = "embedded ledger only"


class InclusionOut(Schema):
    """Embedded ledger: a Merkle inclusion proof with its checkpoint. Fabric: the
    transaction's block evidence (`fabric/blocks-v1`) up to height `size`."""

    index = fields.Integer(
        required=True, metadata={"description": "log position (Fabric: block x 10^6 + index)"}
    )
    size = fields.Integer(required=True, metadata={"description": "tree size or block height"})
    leaf_hash = fields.String(metadata={"description": _EMBEDDED})
    entry = fields.String(
        metadata={
            "description": f"base64 of the log entry, only to a caller who may read its event "
            f"(never a donor); {_EMBEDDED}"
        }
    )
    certificate = fields.String(
        metadata={
            "description": "PEM certificate of the entry's signer, which the entry names by "
            f"the SHA-256 of its DER; with the entry only; {_EMBEDDED}"
        }
    )
    proof = fields.List(fields.String(), metadata={"description": _EMBEDDED})
    checkpoint = fields.String(metadata={"description": _EMBEDDED})
    kind = fields.String(metadata={"description": f"fabric/blocks-v1; {_ON_FABRIC}"})
    tx_id = fields.String(metadata={"description": _ON_FABRIC})
    block = fields.Integer(metadata={"description": _ON_FABRIC})
    head_hash = fields.String(metadata={"description": f"hex header hash; {_ON_FABRIC}"})
    evidence = fields.Dict(
        metadata={
            "description": "bundle evidence object (its blocks hold the event), only to a "
            f"caller who may read the event; {_ON_FABRIC}"
        }
    )
    headers = fields.List(
        fields.Dict(),
        metadata={
            "description": "{number, previous_hash, data_hash, hash} from the transaction's "
            f"block to the head, instead of `evidence` for everyone else; {_ON_FABRIC}"
        },
    )


class ConsistencyArgs(Schema):
    size1 = _size(1, required=True)
    size2 = _size(1)


class ConsistencyOut(Schema):
    """Embedded ledger: a Merkle consistency proof with both checkpoints. Fabric: the
    headers of blocks `size1 - 1` to `size2 - 1`, each naming the previous one's hash."""

    size1 = fields.Integer(required=True)
    size2 = fields.Integer(required=True)
    proof = fields.List(fields.String(), metadata={"description": _EMBEDDED})
    checkpoint1 = fields.String(metadata={"description": _EMBEDDED})
    checkpoint2 = fields.String(metadata={"description": _EMBEDDED})
    kind = fields.String(metadata={"description": f"fabric/blocks-v1; {_ON_FABRIC}"})
    channel = fields.String(metadata={"description": _ON_FABRIC})
    headers = fields.List(
        fields.Dict(),
        metadata={"description": f"{{number, previous_hash, data_hash, hash}}; {_ON_FABRIC}"},
    )


class CheckpointOut(Schema):
    """Embedded ledger: the signed checkpoint note. Fabric: the head block, which the
    ordering service signed, and its header hash (no cosigning: 409 there)."""

    size = fields.Integer(required=True, metadata={"description": "tree size or block height"})
    note = fields.String(metadata={"description": f"C2SP signed note; {_EMBEDDED}"})
    kind = fields.String(metadata={"description": f"fabric/blocks-v1; {_ON_FABRIC}"})
    channel = fields.String(metadata={"description": _ON_FABRIC})
    head_hash = fields.String(metadata={"description": f"hex header hash; {_ON_FABRIC}"})
    head_block = fields.String(metadata={"description": f"base64 block; {_ON_FABRIC}"})
    validity = fields.String(
        metadata={
            "description": "C2SP checkpoint note of the validity log at this height, "
            f"cosigned by the members that state it (absent when none does); {_ON_FABRIC}"
        }
    )


class ValidityOut(Schema):
    """Fabric: the validity log of the channel at a block height, as members sign it."""

    height = fields.Integer(required=True, metadata={"description": "block height"})
    statement = fields.String(
        required=True,
        metadata={
            "description": "C2SP checkpoint note (origin fabric-validity/<genesis hash>), "
            "one cosignature/v1 per member whose witness key this gateway holds"
        },
    )


class CosignIn(Schema):
    size = fields.Integer(validate=validate.Range(min=1))


class HealthOut(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())


class BundleArgs(Schema):
    kind = fields.String(
        load_default="referral_chain", validate=validate.OneOf(["referral_chain", "entitlement"])
    )
    subject = fields.UUID(required=True, metadata={"description": "referral or entitlement ID"})
    size = _size(1, metadata={"description": "checkpoint tree size"})


class BundleOut(Schema):
    """A ``ledger-gw/audit-bundle/v1``: verify it offline with ``ledger-gw audit verify``."""

    class Meta:
        unknown = INCLUDE

    format = fields.String(required=True)
    claim = fields.Dict(required=True)
    consortium = fields.Dict(required=True)
    evidence = fields.Dict(required=True)


class VerifyArgs(Schema):
    """The bundle is always checked against this gateway's own consortium file, never
    against the copy it carries; a Fabric bundle fails with `policy_not_pinned` here (no
    endorsement policy is pinned) and is verified offline with `--policy`."""

    trust = fields.String(
        load_default="consortium",
        validate=validate.OneOf(["consortium"]),
        metadata={
            "description": "consortium (the only trust root): this gateway's consortium file; "
            "`bundle` is refused, a bundle's own copy proves nothing about who signed it"
        },
    )
    quorum = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=100),
        metadata={"description": "witness cosignatures required (default: the consortium's)"},
    )
    min_tree_size = _size(0, load_default=0)


class FailureOut(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    position = fields.Integer(allow_none=True)
    event_id = fields.String(allow_none=True)


class StepOut(Schema):
    position = fields.Integer(required=True)
    event_id = fields.String(required=True)
    type = fields.String(required=True)
    referral_id = fields.String(required=True)
    org = fields.String(allow_none=True)
    state_before = fields.String(allow_none=True)
    state_after = fields.String(allow_none=True)
    verdict = fields.String(required=True, validate=validate.OneOf(["pass", "fail"]))
    checks = fields.List(fields.Dict(), required=True)
    reasons = fields.List(fields.String(), required=True)


class VerifyOut(Schema):
    ok = fields.Boolean(required=True)
    claim = fields.Dict(required=True)
    trust_anchor = fields.String(required=True)
    anchor = fields.Dict(required=True)
    events = fields.List(fields.Dict(), required=True)
    steps = fields.List(fields.Nested(StepOut), required=True)
    failures = fields.List(fields.Nested(FailureOut), required=True)


class ChainVerdictArgs(Schema):
    quorum = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=100),
        metadata={"description": "witness cosignatures required (default: the consortium's)"},
    )


class ChainVerdictOut(Schema):
    referral_id = fields.String(required=True)
    ok = fields.Boolean(required=True)
    anchor = fields.Dict(required=True)
    steps = fields.List(fields.Nested(StepOut), required=True)
    failures = fields.List(fields.Nested(FailureOut), required=True)


_REPORT_DAYS = validate.Range(min=FIRST_DAY, max=LAST_DAY)


class ReportArgs(Schema):
    org = fields.String(
        validate=validate.Regexp(r"^[A-Z][A-Z0-9-]{1,31}$"),
        metadata={"description": "organisation reported on; agencies get only their own"},
    )
    programme = fields.String(validate=validate.Regexp(r"^[A-Z0-9][A-Z0-9-]{0,31}$"))
    start = fields.Date(
        data_key="from",
        validate=_REPORT_DAYS,
        metadata={"description": "first day, inclusive"},
    )
    end = fields.Date(
        data_key="to", validate=_REPORT_DAYS, metadata={"description": "last day, inclusive"}
    )
    k = fields.Integer(
        load_default=DEFAULT_K,
        validate=validate.Range(min=DEFAULT_K, max=100),
        metadata={"description": "smallest count of people published; may only be raised"},
    )
    format = fields.String(
        load_default="json", validate=validate.OneOf(["json", "csv", "hxl", "iati"])
    )
    glide = fields.String(
        validate=validate.Regexp(r"^[A-Z]{2}-[0-9]{4}-[0-9]{6}-[A-Z]{3}$"),
        metadata={"description": "GLIDE number for IATI's humanitarian scope"},
    )


class ReportSignature(Schema):
    """Who signed a report, and when; the signature covers the report with this member
    but for its ``value``."""

    org = fields.String(required=True, metadata={"description": "the signing organisation"})
    algorithm = fields.String(required=True, validate=validate.Equal("ECDSA-P256-SHA256"))
    certificate = fields.String(required=True, metadata={"description": "its signing key's, PEM"})
    signed_at = fields.String(
        required=True,
        metadata={
            "description": "when it was signed (YYYY-MM-DDTHH:MM:SS.ffffffZ): the key must "
            "have been its signing key then, so the report verifies after a key rotation"
        },
    )
    value = fields.String(
        required=True, metadata={"description": "low-S DER ECDSA signature, base64"}
    )


class ReportOut(Schema):
    """A signed ``ledger-gw/accountability-report/v1``; suppressed figures are null."""

    class Meta:
        unknown = INCLUDE

    format = fields.String(required=True)
    anchor = fields.Dict(required=True)
    query = fields.Dict(required=True)
    summary = fields.Dict(required=True)
    suppressed = fields.List(fields.String(), required=True)
    tables = fields.Dict(required=True)
    signature = fields.Nested(ReportSignature, required=True)
