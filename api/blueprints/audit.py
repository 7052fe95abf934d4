"""/v1/audit: offline bundles, verification of an uploaded bundle, referral-chain verdicts.

The gateway only packages evidence and runs the same pure verifier the auditor runs on
her own machine (``ledger-gw audit verify``); nothing here asks her to trust it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, json, request
from flask_smorest import Blueprint

from api.auth import gateway
from api.blueprints.common import protected
from api.json_provider import raw_body
from api.schemas import (
    BundleArgs,
    BundleOut,
    ChainVerdictArgs,
    ChainVerdictOut,
    VerifyArgs,
    VerifyOut,
)
from ledger_gw.errors import ValidationError
from ledger_gw.services import bundles
from ledger_gw.services.access import Action

blp = Blueprint("audit", __name__, url_prefix="/v1/audit", description="Audit bundles, verdicts")

_BUNDLE_BODY = {
    "required": True,
    "description": "the bundle file: its JSON as the body, or a multipart form field `bundle`",
    "content": {
        "application/json": {"schema": BundleOut},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"bundle": {"type": "string", "format": "binary"}},
            }
        },
    },
}


def uploaded_bundle() -> bytes:
    """The bundle's bytes, exactly as sent: the verifier parses them itself."""
    upload = request.files.get("bundle")
    data = upload.read() if upload is not None else request.get_data(cache=False)
    if not data:
        raise ValidationError("no bundle was sent", code="missing_field", field="bundle")
    return data


@blp.route("/bundles", methods=["GET"])
@protected(blp, Action.AUDIT_BUNDLES, 404, 422)
@blp.arguments(BundleArgs, location="query")
@blp.response(200, BundleOut)
def download(args: dict[str, Any]) -> Any:
    """An offline audit bundle (every event of a referral chain or an entitlement, with
    inclusion proofs against one cosigned checkpoint), as a file to keep."""
    subject = str(args["subject"])
    out = bundles.bundle(gateway(), args["kind"], subject, args.get("size"))
    response = Response(json.dumps(out, indent=2) + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="bundle-{args["kind"]}-{subject}.json"'
    )
    return response


@blp.route("/bundles/verify", methods=["POST"])
@raw_body
@protected(blp, Action.AUDIT_VERIFY, 400, 422)
@blp.arguments(VerifyArgs, location="query")
@blp.doc(requestBody=_BUNDLE_BODY)
@blp.response(200, VerifyOut)
def verify(args: dict[str, Any]) -> Any:
    """Verify a bundle with the offline verifier; 200 with `ok: false` and every failure
    when a check fails, 422 only when the upload is not a bundle at all."""
    report = bundles.verify(
        gateway(),
        uploaded_bundle(),
        quorum=args["quorum"],
        min_tree_size=args["min_tree_size"],
    )
    return report.to_dict()


@blp.route("/referrals/<uuid:referral_id>/chain", methods=["GET"])
@protected(blp, Action.AUDIT_BUNDLES, 404, 422)
@blp.arguments(ChainVerdictArgs, location="query")
@blp.response(200, ChainVerdictOut)
def chain(args: dict[str, Any], referral_id: Any) -> Any:
    """Each step of the referral's chain (ancestors and onward referrals) with its verdict:
    signature, inclusion, legal transition, right actor, logged result."""
    return bundles.chain(gateway(), str(referral_id), args["quorum"])
