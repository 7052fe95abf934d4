"""A worked example of every event type, valid against the contract and this consortium.

Together they are one story a gateway accepts in this order: the first agency records
her consent and refers her to the second, which accepts and completes the referral; the
first grants her an entitlement, delivers it, suspends, resumes and closes it; a second
referral is declined, a third cancelled, a second entitlement revoked (their own
`*.created`/`granted` are the first's with other IDs); lastly the consent is revoked.
Values the consortium governs (members, programme, location, ceiling, dates near today)
come from its definition, so each example also passes the gateway's checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger_gw.consortium import Ceiling

PID = "k1.abcdefghijklmnopqrstuvwxyz"
DOCUMENT_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PACKAGE_HASH = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"
FORM_HASH = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


CONSENT_ID, REFERRAL_ID, ENTITLEMENT_ID = _uuid(101), _uuid(201), _uuid(301)
DECLINED_REFERRAL_ID, CANCELLED_REFERRAL_ID, REVOKED_ENTITLEMENT_ID = (
    _uuid(202),
    _uuid(203),
    _uuid(302),
)


@dataclass(frozen=True)
class Example:
    """An event and the agency that may submit it: the sender or the receiver."""

    event: dict[str, Any]
    by: str


def _programme(programmes: Collection[str], ceilings: Mapping[str, Ceiling]) -> tuple[str, str]:
    """A listed programme and its currency (USD when it has no ceiling)."""
    if not programmes:
        return "PROGRAMME-1", "USD"
    name = sorted(programmes)[0]
    ceiling = ceilings.get(name)
    return name, ceiling.currency if ceiling else "USD"


def _amount(ceiling: Ceiling | None) -> str:
    """Half the ceiling, or 100."""
    if ceiling is None:
        return "100"
    half = ceiling.limit / 2
    return format(half.quantize(Decimal(1)) if half >= 1 else ceiling.limit, "f")


def examples(
    agencies: tuple[str, str],
    programmes: Collection[str],
    locations: Collection[str],
    ceilings: Mapping[str, Ceiling],
    today: dt.date,
) -> dict[str, Example]:
    """Every type's example, in the order a gateway accepts them, as (event, submitter)."""
    sender, receiver = agencies
    programme, currency = _programme(programmes, ceilings)
    amount = _amount(ceilings.get(programme))
    place = {"location": sorted(locations)[0]} if locations else {}
    start, end = today.replace(day=1), today.replace(day=1) + dt.timedelta(days=180)
    events: list[tuple[str, dict[str, Any]]] = [
        (sender, {"type": "consent.granted", "consent_id": CONSENT_ID, "pid": PID,
                  "grantees": sorted([receiver]), "purposes": ["referral"],
                  "data_categories": ["referrals"], "lawful_basis": "consent",
                  "expires": (today + dt.timedelta(days=365)).isoformat(),
                  "form_hash": FORM_HASH}),
        (sender, {"type": "referral.created", "referral_id": REFERRAL_ID, "pid": PID,
                  "to_org": receiver, "sector": "health", "urgency": "urgent",
                  "document_hash": DOCUMENT_HASH, "consent_id": CONSENT_ID}),
        (sender, {"type": "referral.handed_over", "referral_id": REFERRAL_ID,
                  "document_hash": PACKAGE_HASH}),
        (receiver, {"type": "referral.accepted", "referral_id": REFERRAL_ID}),
        (receiver, {"type": "referral.completed", "referral_id": REFERRAL_ID,
                    "outcome": "service_provided"}),
        (receiver, {"type": "referral.declined", "referral_id": DECLINED_REFERRAL_ID,
                    "reason": "capacity"}),
        (sender, {"type": "referral.cancelled", "referral_id": CANCELLED_REFERRAL_ID,
                  "reason": "person_request"}),
        (sender, {"type": "entitlement.granted", "entitlement_id": ENTITLEMENT_ID, "pid": PID,
                  "programme": programme, "assistance_type": "cash", "modality": "cash",
                  "amount": amount, "currency": currency, "start": start.isoformat(),
                  "end": end.isoformat(), **place}),
        (sender, {"type": "assistance.delivered", "entitlement_id": ENTITLEMENT_ID,
                  "amount": amount, "currency": currency, "date": today.isoformat(), **place}),
        (sender, {"type": "entitlement.suspended", "entitlement_id": ENTITLEMENT_ID,
                  "reason": "fraud_suspected"}),
        (sender, {"type": "entitlement.resumed", "entitlement_id": ENTITLEMENT_ID}),
        (sender, {"type": "entitlement.closed", "entitlement_id": ENTITLEMENT_ID,
                  "reason": "completed"}),
        (sender, {"type": "entitlement.revoked", "entitlement_id": REVOKED_ENTITLEMENT_ID,
                  "reason": "error"}),
        (sender, {"type": "consent.revoked", "consent_id": CONSENT_ID,
                  "reason": "person_request"}),
    ]  # fmt: skip
    return {
        event["type"]: Example({"event_id": _uuid(1 + i), **event}, by)
        for i, (by, event) in enumerate(events)
    }


def prerequisite(example: Example, object_id: str, event_id: str) -> dict[str, Any]:
    """The creating example again, for another object: what a declined referral, a
    cancelled one or a revoked entitlement needs to exist first."""
    key = "referral_id" if "referral_id" in example.event else "entitlement_id"
    return {**example.event, key: object_id, "event_id": event_id}
