"""Re-derive referral and entitlement state machines from the events in a bundle.

The auditor does not trust the contract's stored state: it replays the
transition rules (:data:`chaincode.referrals.TRANSITIONS`, the same table the
contract enforces) over the signed events, in log order, and judges each step:
signature, inclusion, legality of the transition, whether the signing
organisation was the one allowed to make it, whether the contract's logged
result agrees, and -- when the agency hands over an off-chain document and its
salt -- whether the document's keyed hash matches the one on the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chaincode import entitlements, referrals
from chaincode.fields import parse_amount
from ledger_gw.audit.model import AuditedEvent, Failure
from ledger_gw.pseudonym import document_hash

#: referral_id -> (document bytes, salt), as handed over by the agency that holds them.
Documents = Mapping[str, tuple[bytes, bytes]]


@dataclass(frozen=True)
class Check:
    """One verdict on one step; ``code`` names the failure kind when ``ok`` is False."""

    name: str
    ok: bool
    detail: str = ""
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class Step:
    """One event of a referral chain and the verdict on it."""

    position: int
    event_id: str
    type: str
    referral_id: str
    org: str | None
    state_before: str | None
    state_after: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "type": self.type,
            "referral_id": self.referral_id,
            "org": self.org,
            "state_before": self.state_before,
            "state_after": self.state_after,
            "verdict": "pass" if self.ok else "fail",
            "checks": [c.to_dict() for c in self.checks],
            "reasons": self.reasons,
        }


@dataclass
class _Referral:
    from_org: str | None
    to_org: str
    pid: str
    state: str
    cites_consent: bool  # a hand-over shares under the consent the referral cites


def _fail(name: str, code: str, detail: str) -> Check:
    return Check(name, False, detail, code)


def _base_checks(ev: AuditedEvent) -> list[Check]:
    sig = (
        Check("signature", True, f"signed by {ev.org}")
        if ev.signature_ok
        else _fail("signature", "bad_signature", "; ".join(p.message for p in ev.problems))
    )
    inc = (
        Check("inclusion", True, f"included at position {ev.position}")
        if ev.included
        else _fail("inclusion", "not_included", "not proven included in the checkpoint")
    )
    return [sig, inc]


def _created(
    ev: AuditedEvent, seen: dict[str, _Referral], documents: Documents
) -> tuple[str | None, list[Check]]:
    e = ev.event
    rid = str(e.get("referral_id"))
    checks: list[Check] = []
    if rid in seen:
        checks.append(_fail("transition", "illegal_transition", f"referral {rid} created twice"))
        return seen[rid].state, checks
    actor_ok = ev.org is not None and ev.org != e.get("to_org")
    checks.append(
        Check("actor", True, f"{ev.org} refers to {e.get('to_org')}")
        if actor_ok
        else _fail("actor", "wrong_actor", "an agency cannot refer to itself")
    )
    parent_id = e.get("parent_referral_id")
    if parent_id is not None:
        parent = seen.get(str(parent_id))
        if parent is None:
            checks.append(
                _fail(
                    "transition",
                    "missing_link",
                    f"parent referral {parent_id} is not in the bundle (a link is missing)",
                )
            )
        else:
            if parent.to_org != ev.org:
                checks.append(
                    _fail(
                        "actor",
                        "wrong_actor",
                        f"only the parent's receiver {parent.to_org} may continue it, not {ev.org}",
                    )
                )
            if parent.state not in referrals.PARENT_STATES or parent.pid != e.get("pid"):
                checks.append(
                    _fail(
                        "transition",
                        "illegal_transition",
                        f"parent referral is {parent.state} (or about another person)",
                    )
                )
    if not any(c.name == "transition" for c in checks):
        checks.append(Check("transition", True, "created"))
    cites = e.get("consent_id") is not None
    seen[rid] = _Referral(ev.org, str(e.get("to_org")), str(e.get("pid")), "created", cites)
    if rid in documents:
        doc, salt = documents[rid]
        ok = document_hash(salt, doc) == e.get("document_hash")
        checks.append(
            Check("document_hash", True, "the off-chain document matches the ledger's hash")
            if ok
            else _fail(
                "document_hash",
                "document_mismatch",
                "the keyed hash of the document given does not match the ledger's",
            )
        )
    return None, checks


def _transition(ev: AuditedEvent, ref: _Referral) -> tuple[str | None, list[Check]]:
    step = referrals.TRANSITIONS[ev.type]
    checks: list[Check] = []
    allowed = ref.to_org if step.by == "receiver" else ref.from_org
    checks.append(
        Check("actor", True, f"{ev.org} is the {step.by}")
        if ev.org == allowed
        else _fail(
            "actor",
            "wrong_actor",
            f"{ev.type} may be made only by the {step.by} {allowed}, not {ev.org}",
        )
    )
    before = ref.state
    checks.append(
        Check("transition", True, f"{before} -> {step.target}")
        if before in step.sources
        else _fail(
            "transition", "illegal_transition", f"{ev.type} is not allowed from state {before}"
        )
    )
    ref.state = step.target
    return before, checks


def _handed_over(ev: AuditedEvent, ref: _Referral) -> tuple[str | None, list[Check]]:
    """The sender records its sealed package while the referral is open, under the
    consent the referral cites: no new state."""
    actor = (
        Check("actor", True, f"{ev.org} is the sender")
        if ev.org == ref.from_org
        else _fail(
            "actor",
            "wrong_actor",
            f"only the sender {ref.from_org} may record a hand-over, not {ev.org}",
        )
    )
    if ref.state not in referrals.OPEN_STATES:
        transition = _fail(
            "transition",
            "illegal_transition",
            f"a hand-over recorded after the referral was {ref.state}",
        )
    elif not ref.cites_consent:
        transition = _fail(
            "transition",
            "illegal_transition",
            "a hand-over of a referral that cites no consent to share under",
        )
    else:
        transition = Check("transition", True, f"handed over while {ref.state}")
    return ref.state, [actor, transition]


def _result_check(ev: AuditedEvent, rid: str, after: str | None) -> Check:
    """Whether the contract's logged result agrees with the state the events give."""
    logged = ev.result.get("state", after if ev.type == "referral.handed_over" else None)
    if logged == after and ev.result.get("referral_id") == rid:
        return Check("result", True, f"the logged result agrees: {after}")
    return _fail(
        "result",
        "result_mismatch",
        f"the logged result says {ev.result.get('state')!r}, the events give {after!r}",
    )


def referral_steps(
    events: Sequence[AuditedEvent], documents: Documents | None = None
) -> list[Step]:
    """Judge every referral event of ``events`` in log order."""
    seen: dict[str, _Referral] = {}
    steps: list[Step] = []
    for ev in sorted(events, key=lambda x: x.position):
        if not ev.type.startswith("referral."):
            continue
        rid = str(ev.event.get("referral_id"))
        ref = seen.get(rid)
        if ev.type == "referral.created":
            before, checks = _created(ev, seen, documents or {})
        elif ref is None:  # no origin to judge the step, nor its logged result, against
            message = f"{ev.type} on referral {rid} whose creation is not in the bundle"
            before, checks = None, [_fail("transition", "missing_link", message)]
        elif ev.type in referrals.TRANSITIONS:
            before, checks = _transition(ev, ref)
        elif ev.type == "referral.handed_over":
            before, checks = _handed_over(ev, ref)
        else:
            before, checks = None, [_fail("transition", "illegal_transition", "unknown type")]
        after = seen[rid].state if rid in seen else None
        if rid in seen:
            checks.append(_result_check(ev, rid, after))
        if ev.org is None:  # signer unknown: the signature check already failed the step
            checks = [c for c in checks if c.name != "actor"]
        step = Step(ev.position, ev.event_id, ev.type, rid, ev.org, before, after)
        step.checks = [*_base_checks(ev), *checks]
        steps.append(step)
    return steps


def step_failures(steps: Sequence[Step]) -> list[Failure]:
    """The chain's failures, other than signature and inclusion (reported by the evidence)."""
    return [
        Failure(c.code, f"{s.type} at {s.position}: {c.detail}", s.position, s.event_id)
        for s in steps
        for c in s.checks
        if not c.ok and c.name not in ("signature", "inclusion")
    ]


@dataclass
class _Entitlement:
    granted_by: str | None
    currency: str
    amount: Decimal
    start: str  # the period deliveries fall in, YYYY-MM-DD (they sort as text)
    end: str
    delivered: Decimal
    state: str


def _amount(value: object) -> Decimal:
    """An amount as the contract writes it, or -1 (which no sum matches): a bundle's
    "NaN", "sNaN" or "1e999999" must fail its check, not break the arithmetic."""
    amount = parse_amount(value) if isinstance(value, str) else None
    return Decimal(-1) if amount is None else amount


def entitlement_failures(events: Sequence[AuditedEvent]) -> list[Failure]:
    """Replay entitlements: granter-only actions, legal transitions and the states the
    contract logged for them, deliveries within the period and amounts that add up.

    The cumulative delivered amount recomputed from the signed delivery events must
    equal the one the contract logged with each delivery: a changed amount shows.
    """
    seen: dict[str, _Entitlement] = {}
    out: list[Failure] = []

    def fail(ev: AuditedEvent, code: str, message: str) -> None:
        out.append(
            Failure(code, f"{ev.type} at {ev.position}: {message}", ev.position, ev.event_id)
        )

    for ev in sorted(events, key=lambda x: x.position):
        e, eid = ev.event, str(ev.event.get("entitlement_id"))
        if ev.type == "entitlement.granted":
            if eid in seen:  # the contract refuses it: logged anyway, it would reset the sums
                fail(ev, "illegal_transition", f"entitlement {eid} granted twice")
                continue
            seen[eid] = _Entitlement(
                ev.org,
                str(e.get("currency")),
                _amount(e.get("amount")),
                str(e.get("start")),
                str(e.get("end")),
                Decimal(0),
                "active",
            )
            continue
        if not ev.type.startswith(("entitlement.", "assistance.")):
            continue
        ent = seen.get(eid)
        if ent is None:
            fail(ev, "missing_link", f"entitlement {eid}'s grant is not in the bundle")
            continue
        if ev.org is not None and ev.org != ent.granted_by:
            fail(ev, "wrong_actor", f"only the granting {ent.granted_by} may act, not {ev.org}")
        if ev.type == "assistance.delivered":
            ent.delivered += _amount(e.get("amount"))
            if ent.state != "active" or ent.delivered > ent.amount:
                fail(
                    ev,
                    "illegal_transition",
                    f"delivery against a {ent.state} entitlement or beyond the entitled amount",
                )
            if not ent.start <= str(e.get("date")) <= ent.end:
                fail(
                    ev,
                    "illegal_transition",
                    f"delivery on {e.get('date')}, outside the entitlement's period "
                    f"{ent.start} to {ent.end}",
                )
            if e.get("currency") != ent.currency:
                fail(ev, "amount_mismatch", "currency differs from the entitlement's")
            if _amount(ev.result.get("delivered")) != ent.delivered:
                fail(
                    ev,
                    "amount_mismatch",
                    f"deliveries add up to {ent.delivered}, the ledger's result says "
                    f"{ev.result.get('delivered')}",
                )
        elif ev.type in entitlements.TRANSITIONS:
            step = entitlements.TRANSITIONS[ev.type]
            if ent.state not in step.sources:
                fail(ev, "illegal_transition", f"{ev.type} is not allowed from {ent.state}")
            ent.state = step.target
            if ev.result.get("state") != ent.state:
                fail(
                    ev,
                    "result_mismatch",
                    f"the logged result says {ev.result.get('state')!r}, the events give "
                    f"{ent.state!r}",
                )
    return out
