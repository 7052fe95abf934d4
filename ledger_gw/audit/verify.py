"""Standalone bundle verification: the bundle, checked against what the auditor pins.

No database, no network, no gateway: :func:`verify_bundle` takes the bundle's
bytes (or parsed JSON) and the consortium file the auditor trusts (pinning the
organisations' CAs, the log key and the witness keys). A bundle carries its own copy
of the consortium, but whoever forged the bundle wrote that copy too: it is only ever
compared with the pinned one, never trusted.

Every check runs, and every failure is reported with its own code:

==========================  ============================================================
``malformed_bundle``        not JSON, wrong format, missing parts
``consortium_mismatch``     the bundle's consortium differs from the pinned one
``policy_not_pinned``       a Fabric bundle, and no endorsement policy pinned
``unknown_evidence_kind``   no verifier registered for ``evidence.kind``
``bad_checkpoint*``         the log's signature on the checkpoint fails
``bad_cosignature``         a witness cosignature is forged or damaged
``quorum_not_met``          too few witnesses cosigned
``stale_checkpoint``        the checkpoint is older than the entries or than the
                            tree size the auditor already trusts
``not_included``            an inclusion proof fails (changed entry, swapped node)
``bad_signature`` etc.      a transaction signature or certificate fails
                            (codes of :class:`ledger_gw.identity.Authenticator`)
``missing_event``           an event the claim lists has no evidence (dropped; an event
                            left out of both the claim and the evidence is not seen: a
                            bundle proves what it holds, not that nothing is missing)
``unclaimed_event``         evidence for an event the claim does not list
``missing_link``            a referral/entitlement step whose origin is absent
``illegal_transition``      a transition the state machine does not allow (a hand-over
                            of a referral citing no consent, a delivery outside its
                            entitlement's period)
``wrong_actor``             made by an organisation not allowed to make it
``role_forbidden``          signed by a member whose role records no events (a donor's,
                            an auditor's): the contract refuses it, so a log holding it
                            was written past the contract
``amount_mismatch``         amounts do not add up to the logged results
``result_mismatch``         the contract's logged result disagrees with the events
``document_mismatch``       a handed-over document does not match its hash, or was given
                            for a referral the bundle does not hold
==========================  ============================================================

Fabric bundles (``fabric/blocks-v1``, :mod:`ledger_gw.audit.fabric_evidence`) replace the
checkpoint codes with their own: ``genesis_mismatch`` (not the pinned genesis block),
``block_data_mismatch``, ``broken_chain``, ``bad_orderer_signature``,
``bad_endorsement``, ``endorsement_policy``, ``proposal_mismatch`` (the endorsers
signed another event), ``invalid_transaction``, ``unknown_identity`` (a certificate its
MSP did not issue), ``unknown_organisation`` (an MSP of the channel the pinned
consortium does not list, the orderers' say),
``validity_not_attested`` (no quorum of the pinned consortium's witnesses signed which
transactions their peers found valid) and ``validity_mismatch`` (they did not sign the
validation code the block carries); a failed submitter signature is ``bad_signature``
and an absent transaction ``not_included``, as on the embedded ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaincode import authz, schemas
from chaincode.errors import ContractError
from chaincode.stub import Identity
from ledger_gw import strict_json
from ledger_gw.audit import evidence as ev
from ledger_gw.audit.bundle import BUNDLE_FORMAT, referral_chain_ids
from ledger_gw.audit.chain import (
    Documents,
    Step,
    entitlement_failures,
    referral_steps,
    step_failures,
)
from ledger_gw.audit.model import AuditedEvent, Failure
from ledger_gw.consortium import Consortium
from ledger_gw.errors import (
    AuditError,
    AuthenticationError,
    ConfigError,
    LedgerError,
    MalformedError,
)
from ledger_gw.identity import ROTATION_SLACK, Authenticator


@dataclass
class BundleReport:
    """The auditor's answer: what was checked against what, and every failure."""

    claim: dict[str, Any]
    trust_anchor: str
    anchor: dict[str, Any] = field(default_factory=dict)
    events: list[AuditedEvent] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.failures}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "claim": self.claim,
            "trust_anchor": self.trust_anchor,
            "anchor": self.anchor,
            "events": [
                {
                    "position": e.position,
                    "event_id": e.event_id,
                    "type": e.type,
                    "org": e.org,
                    "signature_ok": e.signature_ok,
                    "included": e.included,
                }
                for e in self.events
            ],
            "steps": [s.to_dict() for s in self.steps],
            "failures": [f.to_dict() for f in self.failures],
        }


def _load(data: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    if isinstance(data, bytes | str):
        try:
            parsed = strict_json.loads(data)
        except MalformedError as exc:
            raise AuditError(f"bundle is not JSON: {exc}", code="malformed_bundle") from exc
    else:
        parsed = dict(data)
    if not isinstance(parsed, dict) or parsed.get("format") != BUNDLE_FORMAT:
        raise AuditError(f"not a {BUNDLE_FORMAT} bundle", code="malformed_bundle")
    for part in ("claim", "consortium", "evidence"):
        if not isinstance(parsed.get(part), dict):
            raise AuditError(f"bundle has no {part} object", code="malformed_bundle")
    return parsed


def _consortium_failures(bundle: dict[str, Any], trusted: Consortium) -> list[Failure]:
    """The bundle's own copy of the consortium, compared with the pinned one."""
    try:
        carried = Consortium.from_dict(bundle["consortium"])
    except (ConfigError, AuthenticationError) as exc:
        return [Failure("consortium_mismatch", f"bundle consortium unreadable: {exc}")]
    if carried.to_dict() != trusted.to_dict():
        return [
            Failure(
                "consortium_mismatch",
                "the bundle's certificates or keys differ from the consortium the auditor pinned",
            )
        ]
    return []


def _submitted(item: ev.EvidenceItem, sub: ev.Submission, auth: Authenticator) -> AuditedEvent:
    """An event whose submitter the evidence itself verified (Fabric's envelope). The
    contract saw the role the pinned consortium gives the submitter's organisation (it
    refuses a certificate naming another), so that role is held to the same rule."""
    event, problems = _contract_event(sub.event, item)
    audited = AuditedEvent(
        item.position,
        sub.tx_id,
        sub.timestamp,
        sub.org,
        event,
        _result(item),
        item.included,
        problems=[*sub.problems, *problems],
    )
    if sub.org is None or sub.problems:
        return audited
    member = auth.organisations.get(sub.org)
    if member is None:
        message = f"position {item.position}: organisation {sub.org} is not a consortium member"
        audited.problems.append(
            Failure("unknown_organisation", message, item.position, audited.event_id)
        )
        return audited
    audited.signature_ok = True
    audited.problems.extend(_writer_failures(Identity(sub.org, member.role), audited))
    return audited


def _writer_failures(identity: Identity, audited: AuditedEvent) -> list[Failure]:
    """The contract's rule on who records events: a log holding an event it refuses was
    written past the contract, however valid the signature."""
    try:
        authz.require_writer(identity)
    except ContractError as exc:
        message = f"position {audited.position}: {exc}"
        return [Failure(exc.code, message, audited.position, audited.event_id)]
    return []


def _contract_event(raw: object, item: ev.EvidenceItem) -> tuple[dict[str, Any], list[Failure]]:
    """The event as the contract reads it. One the contract would refuse (a field of the
    wrong type, say) is a malformed entry, and the checks that follow see nothing of it."""
    if not isinstance(raw, dict) or not raw:
        return {}, [Failure("malformed_entry", "the transaction carries no event", item.position)]
    try:
        schemas.validate(raw)
    except ContractError as exc:
        message = f"position {item.position}: not an event the contract accepts: {exc}"
        return {}, [Failure("malformed_entry", message, item.position)]
    return dict(raw), []


def _result(item: ev.EvidenceItem) -> dict[str, Any]:
    """The contract's logged result; anything but an object is no result (the result
    checks then fail)."""
    return item.result if isinstance(item.result, dict) else {}


def _authenticate(item: ev.EvidenceItem, auth: Authenticator) -> AuditedEvent:
    if item.submission is not None or item.tx is None:
        sub = item.submission or ev.Submission("", "", {}, None)
        return _submitted(item, sub, auth)
    p = item.tx.proposal
    raw = p.args[0] if p.function == "submit" and p.args else None
    event, problems = _contract_event(raw, item)
    audited = AuditedEvent(
        item.position, item.tx.tx_id, p.timestamp, None, event, _result(item), item.included
    )
    try:
        identity = auth.authenticate(
            p.creator, item.tx.signature, p.payload, p.time, grace=ROTATION_SLACK
        )
    except LedgerError as exc:
        audited.problems.append(
            Failure(exc.code, f"position {item.position}: {exc}", item.position, audited.event_id)
        )
        return audited
    audited.org = identity.org_id
    audited.signature_ok = True
    audited.problems.extend(problems)
    audited.problems.extend(_writer_failures(identity, audited))
    return audited


def _claim_failures(claim: dict[str, Any], events: list[AuditedEvent]) -> list[Failure]:
    out: list[Failure] = []
    claimed = claim.get("events")
    if not isinstance(claimed, list) or not all(isinstance(eid, str) for eid in claimed):
        return [Failure("malformed_bundle", "claim.events must list event IDs")]
    # Event IDs are each organisation's own: two organisations' events may share one.
    seen: set[tuple[str | None, str]] = set()
    positions: set[int] = set()
    for e in events:
        if (e.org, e.event_id) in seen or e.position in positions:
            out.append(Failure("duplicate_event", "an event appears twice", e.position, e.event_id))
        seen.add((e.org, e.event_id))
        positions.add(e.position)
    have = Counter(e.event_id for e in events)
    wanted = Counter(claimed)
    for eid in (wanted - have).elements():
        out.append(
            Failure(
                "missing_event",
                f"event {eid} is claimed but its evidence is missing (dropped)",
                event_id=str(eid),
            )
        )
    extra = have - wanted
    for e in events:
        if extra[e.event_id] > 0:
            extra[e.event_id] -= 1
            out.append(
                Failure(
                    "unclaimed_event", "evidence for an unclaimed event", e.position, e.event_id
                )
            )
    subject = claim.get("subject")
    kind = claim.get("kind")
    if kind == "referral_chain" and isinstance(subject, str):
        created = [e.event for e in events if e.type == "referral.created"]
        try:
            chain = set(referral_chain_ids(created, subject))
        except AuditError:
            return [*out, Failure("missing_link", f"referral {subject}'s creation is absent")]
        for e in events:
            if e.event.get("referral_id") not in chain:
                out.append(
                    Failure("unclaimed_event", "event outside the claimed chain", e.position)
                )
    elif kind == "entitlement":
        if not isinstance(subject, str):
            return [*out, Failure("malformed_bundle", "claim.subject must name the entitlement")]
        for e in events:
            if e.event.get("entitlement_id") != subject:
                out.append(Failure("unclaimed_event", "event of another entitlement", e.position))
    elif kind != "events":
        out.append(Failure("malformed_bundle", f"unknown claim kind {kind!r}"))
    return out


def _unmatched_documents(documents: Documents, events: list[AuditedEvent]) -> list[Failure]:
    """A document the auditor holds for a referral the bundle does not carry is checked
    against nothing: said, never passed over as if it matched."""
    created = {e.event.get("referral_id") for e in events if e.type == "referral.created"}
    return [
        Failure("document_mismatch", f"a document was given for referral {rid}, not in the bundle")
        for rid in sorted(documents)
        if rid not in created
    ]


def verify_bundle(
    data: Mapping[str, Any] | bytes | str,
    *,
    trusted_consortium: Consortium,
    quorum: int | None = None,
    min_tree_size: int = 0,
    documents: Documents | None = None,
    genesis_hash: bytes | None = None,
    endorsement_policy: tuple[int, frozenset[str]] | None = None,
) -> BundleReport:
    """Check a bundle against ``trusted_consortium``, the auditor's own copy of the
    consortium file; never raises for a failed check, only for a file that is not a
    bundle at all (AuditError).

    ``genesis_hash`` and ``endorsement_policy`` are Fabric's pins (the channel's genesis
    block header hash, and OutOf(n, orgs)); Merkle bundles ignore them. A Fabric bundle
    without a pinned policy fails (``policy_not_pinned``): the policy the bundle names
    is the forger's to choose. ``quorum`` (default: the consortium's witness quorum) is
    demanded as given: asking for more witnesses than cosigned fails, never less."""
    bundle = _load(data)
    consortium = trusted_consortium
    failures = _consortium_failures(bundle, consortium)
    report = BundleReport(claim=bundle["claim"], trust_anchor="pinned")
    kind = bundle["evidence"].get("kind")
    verifier = ev.evidence_verifier(str(kind))
    if verifier is None:
        report.failures = [
            *failures,
            Failure("unknown_evidence_kind", f"no verifier for evidence kind {kind!r}"),
        ]
        return report
    demanded = consortium.witness_quorum if quorum is None else quorum
    options = ev.EvidenceOptions(demanded, min_tree_size, genesis_hash, endorsement_policy)
    found = verifier(bundle["evidence"], consortium, options)
    failures.extend(found.failures)
    report.anchor = found.anchor
    auth = consortium.authenticator()
    report.events = [_authenticate(item, auth) for item in found.items]
    for e in report.events:
        failures.extend(e.problems)
    failures.extend(_claim_failures(report.claim, report.events))
    report.steps = referral_steps(report.events, documents)
    failures.extend(step_failures(report.steps))
    failures.extend(_unmatched_documents(documents or {}, report.events))
    failures.extend(entitlement_failures(report.events))
    report.failures = failures
    return report
