"""/v1/credentials: issue a person's credential, and verify one she presents.

Verifying runs the same offline check ``ledger-gw credential verify`` runs, against this
gateway's own consortium file (never a key the credential carries), then asks the ledger
whether the entitlement (or, for a registration, her consent) still stands.
"""

from __future__ import annotations

import base64
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.auth import caller, gateway
from api.blueprints.common import protected
from api.schemas import PURPOSE
from chaincode.fields import PID, PURPOSES
from ledger_gw.errors import ValidationError
from ledger_gw.services import credentials
from ledger_gw.services.access import Action
from ledger_gw.services.credentials import DISCLOSABLE_OF, KINDS

blp = Blueprint(
    "credentials",
    __name__,
    url_prefix="/v1/credentials",
    description="Credentials a person carries (SD-JWT VC on a QR card), checkable offline",
)

_MAX_TEXT = 16 << 10
_MAX_IMAGE = 6 << 20
_DISCLOSABLE = sorted({name for names in DISCLOSABLE_OF.values() for name in names})


class CredentialIssueIn(Schema):
    kind = fields.String(
        load_default="entitlement",
        validate=validate.OneOf(KINDS),
        metadata={"description": "what it states: an entitlement, or her registration here"},
    )
    event_id = fields.UUID(
        metadata={
            "description": "the event it stands on: the entitlement.granted, or the "
            "consent.granted that records her registration (required for an entitlement)"
        }
    )
    pid = fields.String(
        validate=validate.Regexp(rf"(?:{PID.pattern})\Z", error="not a pseudonymous ID"),
        metadata={"description": "for a registration: hers, instead of the consent event"},
    )
    purpose = PURPOSE
    disclose = fields.List(
        fields.String(validate=validate.OneOf(_DISCLOSABLE)),
        load_default=list,
        validate=validate.Length(max=len(_DISCLOSABLE)),
        metadata={
            "description": "the claims she chose to show (an entitlement's: "
            f"{', '.join(DISCLOSABLE_OF['entitlement'])}; a registration's: "
            f"{', '.join(DISCLOSABLE_OF['registration'])}); the rest stay hidden"
        },
    )
    expires = fields.AwareDateTime(
        metadata={
            "description": "an earlier end than the entitlement's last day; where she hides "
            "valid_until, the credential lasts this long or 30 days, never beyond that day "
            "(422 `credential_outlasts_subject`)"
        }
    )


class LedgerEventOut(Schema):
    origin = fields.String(required=True)
    tx_id = fields.String(required=True)
    index = fields.Integer(required=True)
    leaf_hash = fields.String(required=True)
    entitlement_id = fields.String(metadata={"description": "an entitlement's"})
    consent_id = fields.String(metadata={"description": "a registration's"})


class StatusAsOfOut(Schema):
    ledger_size = fields.Integer(
        required=True,
        metadata={
            "description": "how far the ledger had grown (log entries; blocks on Fabric) "
            "when the gateway read the status: it reflects at least those"
        },
    )
    at = fields.String(required=True, metadata={"description": "when it read it (UTC)"})


class VerifiedOut(Schema):
    ok = fields.Boolean(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    issuer = fields.String(required=True)
    pid = fields.String(required=True)
    disclosed = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    expires = fields.String(required=True)
    issued_at = fields.String(required=True, metadata={"description": "when it was issued"})
    not_before = fields.String(
        metadata={"description": "when it becomes valid, if issued before its entitlement began"}
    )
    event = fields.Nested(LedgerEventOut, required=True)
    tree_size = fields.Integer(
        required=True, metadata={"description": "the size of the checkpoint its proof is under"}
    )
    witnesses = fields.List(fields.String(), required=True)
    status = fields.String(
        metadata={"description": "active, or `not checked` when verified offline only"}
    )
    status_as_of = fields.Nested(
        StatusAsOfOut, metadata={"description": "online: as of when the status was read"}
    )


class CredentialOut(Schema):
    credential = fields.String(
        required=True, metadata={"description": "the credential text (its QR code's content)"}
    )
    verified = fields.Nested(VerifiedOut, required=True)


class CredentialVerifyIn(Schema):
    credential = fields.String(
        validate=validate.Length(min=1, max=_MAX_TEXT),
        metadata={"description": "the credential text"},
    )
    image = fields.String(
        validate=validate.Length(min=1, max=_MAX_IMAGE),
        metadata={"description": "or a photo or scan of the card, base64"},
    )
    purpose = fields.String(
        load_default="service_continuity", validate=validate.OneOf(sorted(PURPOSES))
    )
    online = fields.Boolean(
        load_default=True, metadata={"description": "also check the entitlement still stands"}
    )
    quorum = fields.Integer(
        validate=validate.Range(min=0, max=64),
        metadata={"description": "witness cosignatures required (default: the consortium's)"},
    )


def presented(body: dict[str, Any]) -> bytes:
    """The credential's bytes: its text, or the image of its card."""
    if ("credential" in body) == ("image" in body):
        raise ValidationError(
            "give the credential text or an image of its card", field="credential"
        )
    if "credential" in body:
        return str(body["credential"]).encode()
    try:
        return base64.b64decode(body["image"], validate=True)
    except ValueError:  # binascii.Error, or a character beyond ASCII
        raise ValidationError("image is not base64", field="image") from None


@blp.route("", methods=["POST"])
@protected(blp, Action.CREDENTIALS_ISSUE, 404, 409, 422)
@blp.arguments(CredentialIssueIn)
@blp.response(201, CredentialOut)
def issue(body: dict[str, Any]) -> Any:
    """Issue her credential for an entitlement this organisation granted, or (`kind`
    `registration`) for her registration here.

    The event is read as the caller's organisation under the contract's consent rules
    (404 when it may not read it); 403 `not_granting_org` for another agency's grant,
    `not_registering_org` when this organisation holds no registration of her or another
    recorded the consent; 422 `credential_revoked` / `credential_suspended` /
    `credential_closed` when the entitlement no longer stands (`credential_revoked` when
    her consent is withdrawn); 422 `credential_outlasts_subject` when its expiry would
    tell the hidden `valid_until`, `credential_before_subject` when its not-before would
    tell the hidden `valid_from`; 409 `not_yet_witnessed` until a checkpoint the witness
    quorum cosigned holds the event (retry); 501 on Fabric, which has no tlog-proofs."""
    return credentials.issue(
        gateway(),
        caller(),
        str(body["event_id"]) if "event_id" in body else None,
        body["purpose"],
        body["disclose"],
        kind=body["kind"],
        pid=body.get("pid"),
        expires=body.get("expires"),
    ).to_dict()


@blp.route("/verify", methods=["POST"])
@protected(blp, Action.CREDENTIALS_VERIFY, 400, 422)
@blp.arguments(CredentialVerifyIn)
@blp.response(200, VerifiedOut)
def verify(body: dict[str, Any]) -> Any:
    """Verify a credential (its text, or a photo of its card): the issuer's signature
    against this gateway's consortium file, the disclosures, the event's inclusion under
    a witnessed checkpoint and, `online`, that the entitlement still stands (for a
    registration, that her consent is neither withdrawn nor expired).

    A credential that fails answers 422 with its reason: `credential_malformed`,
    `credential_forged`, `credential_altered`, `credential_expired`,
    `credential_not_yet_valid`, `credential_wrong_issuer`, `credential_foreign_consortium`,
    `credential_issuer_key_retired`, `credential_not_witnessed`, `credential_unproven`,
    `credential_revoked`, `credential_suspended`, `credential_closed`; online,
    `credential_altered` too when an entitlement credential states what its grant does
    not (a disclosed term, an expiry or not-before outside its period, an issue before
    it); 403 `credential_status_unknown` when the caller may not read the entitlement
    for `purpose`. Online, `status_as_of` says how far the ledger it read had grown, and
    when."""
    return credentials.verify(
        gateway(),
        caller(),
        presented(body),
        body["purpose"],
        online=body["online"],
        quorum=body.get("quorum"),
    )
