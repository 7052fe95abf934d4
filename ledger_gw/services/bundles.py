"""Audit use cases of the gateway: download a bundle, verify one, judge a referral chain.

The gateway adds no trust of its own here. A bundle is built from the verifiable log
(Merkle evidence on the embedded ledger, block evidence on Fabric) exactly as
``ledger-gw audit bundle`` builds it, and verification runs the same pure
:func:`ledger_gw.audit.verify.verify_bundle` an auditor runs offline: the server's
answer is a convenience, never evidence, and the auditor can always check it herself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger_gw.audit.bundle import CLAIM_KINDS as CLAIM_KINDS  # part of this API
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.chain import Documents as Documents  # part of this API
from ledger_gw.audit.verify import BundleReport as BundleReport  # part of this API
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.consortium import Consortium
from ledger_gw.errors import AuditError, NotFoundError, RejectedError, ValidationError
from ledger_gw.interfaces import VerifiableLog
from ledger_gw.services.gateway import Gateway


def build(
    log: VerifiableLog,
    consortium: Consortium,
    *,
    kind: str,
    subject: str | None = None,
    tx_ids: Sequence[str] = (),
    size: int | None = None,
) -> dict[str, Any]:
    """A ``ledger-gw/audit-bundle/v1`` of any claim kind, from either backend's log."""
    return build_bundle(log, consortium, kind=kind, subject=subject, tx_ids=tx_ids, size=size)


def verify_bytes(
    data: bytes | dict[str, Any],
    consortium: Consortium,
    *,
    quorum: int | None = None,
    min_tree_size: int = 0,
    documents: Documents | None = None,
    genesis_hash: bytes | None = None,
    policy: tuple[int, frozenset[str]] | None = None,
) -> BundleReport:
    """The offline verifier, with the trust roots the caller pins: the consortium always,
    and on Fabric the genesis block's hash and the endorsement policy."""
    return verify_bundle(
        data,
        trusted_consortium=consortium,
        quorum=quorum,
        min_tree_size=min_tree_size,
        documents=documents,
        genesis_hash=genesis_hash,
        endorsement_policy=policy,
    )


def judge_chain(
    log: VerifiableLog,
    consortium: Consortium,
    referral_id: str,
    *,
    quorum: int | None = None,
    min_tree_size: int = 0,
    documents: Documents | None = None,
) -> BundleReport:
    """A referral chain's bundle, built from the log and verified against ``consortium``
    (at its witness quorum unless ``quorum`` says otherwise; an anchor older than
    ``min_tree_size`` fails): a step fails here exactly when it would fail on the
    auditor's own machine."""
    built = build(log, consortium, kind="referral_chain", subject=referral_id)
    demanded = consortium.witness_quorum if quorum is None else quorum
    return verify_own(
        built,
        log,
        consortium,
        quorum=demanded,
        min_tree_size=min_tree_size,
        documents=documents,
    )


def verify_own(
    data: bytes | dict[str, Any],
    log: VerifiableLog,
    consortium: Consortium,
    *,
    quorum: int | None = None,
    min_tree_size: int = 0,
    documents: Documents | None = None,
) -> BundleReport:
    """The verifier with this member's own trust roots: its consortium file and, on
    Fabric, the genesis block its own peer holds and the policy its profile names."""
    pins = log.pins()
    return verify_bytes(
        data,
        consortium,
        quorum=quorum,
        min_tree_size=min_tree_size,
        documents=documents,
        genesis_hash=pins.genesis_hash,
        policy=pins.policy,
    )


def _claim(kind: str, subject: str | None) -> str:
    if kind not in CLAIM_KINDS or kind == "events":
        raise ValidationError("kind is not supported here", code="invalid_value", field="kind")
    if not subject:
        raise ValidationError("a subject ID is required", code="missing_field", field="subject")
    return subject


def _as_refusal(exc: AuditError) -> RejectedError:
    if exc.code == "not_found":
        return NotFoundError(str(exc), code="not_found")
    return ValidationError(str(exc), code=exc.code, field="subject")


def bundle(gateway: Gateway, kind: str, subject: str | None, size: int | None = None) -> Any:
    """A ``ledger-gw/audit-bundle/v1`` for a referral chain or an entitlement."""
    subject = _claim(kind, subject)
    try:
        return build(
            gateway.log, gateway.consortium_in_force(), kind=kind, subject=subject, size=size
        )
    except AuditError as exc:
        raise _as_refusal(exc) from None


def verify(
    gateway: Gateway,
    data: bytes,
    *,
    quorum: int | None = None,
    min_tree_size: int = 0,
) -> BundleReport:
    """Run the offline verifier on uploaded bytes, pinning the consortium file this
    gateway was configured with (the same file an auditor pins with ``--consortium``;
    its members' signing keys as rotations have extended them since) and, on Fabric,
    its own channel's genesis block and endorsement policy; never anything the bundle
    brings.
    """
    try:
        return verify_own(
            data,
            gateway.log,
            gateway.consortium_in_force(),
            quorum=quorum,
            min_tree_size=min_tree_size,
        )
    except AuditError as exc:
        raise ValidationError(str(exc), code=exc.code, field="bundle") from None


def chain(gateway: Gateway, referral_id: str, quorum: int | None = None) -> dict[str, Any]:
    """Each step of a referral's chain with its verdict, as ``ledger-gw audit chain`` prints.

    The bundle is built and then verified against the pinned consortium (by default at
    its witness quorum), so a step fails here exactly when it would fail on the
    auditor's own machine.
    """
    _claim("referral_chain", referral_id)
    try:
        report = judge_chain(gateway.log, gateway.consortium_in_force(), referral_id, quorum=quorum)
    except AuditError as exc:
        raise _as_refusal(exc) from None
    return {
        "referral_id": referral_id,
        "ok": report.ok,
        "anchor": report.anchor,
        "steps": [s.to_dict() for s in report.steps],
        "failures": [f.to_dict() for f in report.failures],
    }
