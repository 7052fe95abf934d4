"""Audit use cases of the gateway: download a bundle, verify one, judge a referral chain.

The gateway adds no trust of its own here. A bundle is built from the verifiable log
(Merkle evidence on the embedded ledger, block evidence on Fabric) exactly as
``ledger-gw audit bundle`` builds it, and verification runs the same pure
:func:`ledger_gw.audit.verify.verify_bundle` an auditor runs offline: the server's
answer is a convenience, never evidence, and the auditor can always check it herself.
"""

from __future__ import annotations

from typing import Any

from ledger_gw.audit.bundle import CLAIM_KINDS, build_bundle
from ledger_gw.audit.errors import AuditError
from ledger_gw.audit.verify import BundleReport, verify_bundle
from ledger_gw.errors import NotFoundError, ValidationError
from ledger_gw.services.gateway import Gateway

TRUST_ANCHORS = ("consortium", "bundle")


def bundle(gateway: Gateway, kind: str, subject: str | None, size: int | None = None) -> Any:
    """A ``ledger-gw/audit-bundle/v1`` for a referral chain or an entitlement."""
    if kind not in CLAIM_KINDS or kind == "events":
        raise ValidationError("kind is not supported here", code="invalid_value", field="kind")
    if not subject:
        raise ValidationError("a subject ID is required", code="missing_field", field="subject")
    try:
        return build_bundle(
            gateway.log,
            gateway.workspace.consortium,
            kind=kind,
            subject=subject,
            size=size,
        )
    except AuditError as exc:
        if exc.code == "not_found":
            raise NotFoundError(str(exc), code="not_found") from None
        raise ValidationError(str(exc), code=exc.code, field="subject") from None


def verify(
    gateway: Gateway,
    data: bytes,
    *,
    trust: str = "consortium",
    quorum: int = 1,
    min_tree_size: int = 0,
) -> BundleReport:
    """Run the offline verifier on uploaded bytes.

    ``trust="consortium"`` pins the consortium file this gateway was configured with
    (the same file an auditor pins with ``--consortium``); ``"bundle"`` trusts the
    bundle's own copy and so proves only internal consistency.
    """
    if trust not in TRUST_ANCHORS:
        raise ValidationError("unknown trust anchor", code="invalid_value", field="trust")
    pinned = gateway.workspace.consortium if trust == "consortium" else None
    try:
        return verify_bundle(
            data, trusted_consortium=pinned, quorum=quorum, min_tree_size=min_tree_size
        )
    except AuditError as exc:
        raise ValidationError(str(exc), code=exc.code, field="bundle") from None


def chain(gateway: Gateway, referral_id: str, quorum: int = 1) -> dict[str, Any]:
    """Each step of a referral's chain with its verdict, as ``ledger-gw audit chain`` prints.

    The bundle is built and then verified against the pinned consortium, so a step
    fails here exactly when it would fail on the auditor's own machine.
    """
    built = bundle(gateway, "referral_chain", referral_id)
    report = verify_bundle(built, trusted_consortium=gateway.workspace.consortium, quorum=quorum)
    return {
        "referral_id": referral_id,
        "ok": report.ok,
        "anchor": report.anchor,
        "steps": [s.to_dict() for s in report.steps],
        "failures": [f.to_dict() for f in report.failures],
    }
