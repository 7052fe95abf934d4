"""Builders of valid contract events (uuid4 IDs, codes from the vocabularies), for
every tier: the contract on its stub, the services, the HTTP surface, real ledgers.

Each builder returns a plain dict ready for `OrgClient.submit` or a POST; keyword
arguments override or add fields, so a test can make an event invalid on purpose.
The person defaults to PID, a fixed pseudonym, so contract tests can query it.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

Event = dict[str, Any]

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
PID = "k1." + "a" * 26  # a keyed pseudonym
PID_2 = "h." + "b" * 26  # a person-held random ID
DOC_HASH = "ab" * 32
FORM_HASH = "cd" * 32
_YEAR = dt.datetime.now(dt.UTC).year
# Entitlements run from last year to the end of next, whenever the tests run: one that
# had ended would make every credential issued for it expired already, and every month
# a test closes fall outside it. Deliveries are on a day of it never in the future.
PERIOD = (f"{_YEAR - 1}-01-01", f"{_YEAR + 1}-12-31")
DELIVERY_DATE = f"{_YEAR}-01-01"


def uid() -> str:
    return str(uuid.uuid4())


def pid() -> str:
    """A fresh person-held random ID (`h.` + 26 base32 characters)."""
    return "h." + "".join(secrets.choice(_BASE32) for _ in range(26))


def consent_granted(
    person: str = PID,
    grantees: list[str] | None = None,
    purposes: list[str] | None = None,
    categories: list[str] | None = None,
    **kw: Any,
) -> Event:
    """A consent for every purpose and category, to every organisation unless named."""
    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=365)).isoformat()
    return {
        "event_id": uid(),
        "type": "consent.granted",
        "consent_id": uid(),
        "pid": person,
        "grantees": grantees or ["*"],
        "purposes": purposes or ["deduplication", "referral", "service_continuity"],
        "data_categories": categories or ["assistance", "consent", "entitlements", "referrals"],
        "lawful_basis": "consent",
        "expires": expires,
        "form_hash": FORM_HASH,
        **kw,
    }


def consent_revoked(consent_id: str, **kw: Any) -> Event:
    return {
        "event_id": uid(),
        "type": "consent.revoked",
        "consent_id": consent_id,
        "reason": "person_request",
        **kw,
    }


def referral_created(person: str = PID, to_org: str = "AGENCY-B", **kw: Any) -> Event:
    return {
        "event_id": uid(),
        "type": "referral.created",
        "referral_id": uid(),
        "pid": person,
        "to_org": to_org,
        "sector": "health",
        "urgency": "urgent",
        "document_hash": DOC_HASH,
        **kw,
    }


_REFERRAL_DETAIL: dict[str, dict[str, str]] = {
    "declined": {"reason": "capacity"},
    "completed": {"outcome": "service_provided"},
    "cancelled": {"reason": "person_request"},
}


def referral_step(kind: str, referral_id: str, **kw: Any) -> Event:
    """referral.accepted / declined / completed / cancelled."""
    return {
        "event_id": uid(),
        "type": f"referral.{kind}",
        "referral_id": referral_id,
        **_REFERRAL_DETAIL.get(kind, {}),
        **kw,
    }


def entitlement_granted(person: str = PID, **kw: Any) -> Event:
    return {
        "event_id": uid(),
        "type": "entitlement.granted",
        "entitlement_id": uid(),
        "pid": person,
        "programme": "MPCA-2026",
        "assistance_type": "cash",
        "modality": "cash",
        "amount": "150.00",
        "currency": "USD",
        "start": PERIOD[0],
        "end": PERIOD[1],
        **kw,
    }


def delivery(entitlement_id: str, amount: str = "50", **kw: Any) -> Event:
    return {
        "event_id": uid(),
        "type": "assistance.delivered",
        "entitlement_id": entitlement_id,
        "amount": amount,
        "currency": "USD",
        "date": DELIVERY_DATE,
        **kw,
    }


_ENTITLEMENT_DETAIL: dict[str, dict[str, str]] = {
    "suspended": {"reason": "other"},
    "revoked": {"reason": "error"},
    "closed": {"reason": "completed"},
}


def entitlement_step(kind: str, entitlement_id: str, **kw: Any) -> Event:
    """entitlement.suspended / resumed / revoked / closed."""
    return {
        "event_id": uid(),
        "type": f"entitlement.{kind}",
        "entitlement_id": entitlement_id,
        **_ENTITLEMENT_DETAIL.get(kind, {}),
        **kw,
    }


def independent(i: int) -> Event:
    """The i-th of a stream of events that need no earlier event (any agency but B may
    submit them): consents, entitlements and referrals to AGENCY-B, in turn."""
    person = pid()
    kind = i % 3
    if kind == 0:
        return consent_granted(person)
    if kind == 1:
        return entitlement_granted(person)
    return referral_created(person)


def story() -> list[tuple[str, Event]]:
    """(org, event) pairs touching every event type, valid when submitted in order."""
    person = pid()
    consent = consent_granted(person)
    referral = referral_created(person, consent_id=consent["consent_id"])
    referral_2 = referral_created(person)
    referral_3 = referral_created(person)
    onward = referral_created(person, to_org="AGENCY-C", parent_referral_id=referral["referral_id"])
    grant = entitlement_granted(person)
    grant_2 = entitlement_granted(person, assistance_type="food", modality="voucher")
    grant_3 = entitlement_granted(person, assistance_type="shelter", modality="in_kind")
    ent, ent_2 = grant["entitlement_id"], grant_2["entitlement_id"]
    consent_2 = consent_granted(person, grantees=["AGENCY-B"], purposes=["referral"])
    return [
        ("AGENCY-A", consent),
        ("AGENCY-A", referral),
        ("AGENCY-B", referral_step("accepted", referral["referral_id"])),
        ("AGENCY-B", onward),
        ("AGENCY-C", referral_step("declined", onward["referral_id"])),
        ("AGENCY-B", referral_step("completed", referral["referral_id"])),
        ("AGENCY-A", referral_2),
        ("AGENCY-A", referral_step("cancelled", referral_2["referral_id"])),
        ("AGENCY-A", referral_3),
        ("AGENCY-B", referral_step("accepted", referral_3["referral_id"])),
        ("AGENCY-A", grant),
        ("AGENCY-A", delivery(ent, "50")),
        ("AGENCY-A", delivery(ent, "25.5")),
        ("AGENCY-A", entitlement_step("suspended", ent)),
        ("AGENCY-A", entitlement_step("resumed", ent)),
        ("AGENCY-A", delivery(ent, "10")),
        ("AGENCY-A", entitlement_step("closed", ent)),
        ("AGENCY-C", grant_2),
        ("AGENCY-C", delivery(ent_2, "100")),
        ("AGENCY-C", entitlement_step("revoked", ent_2)),
        ("AGENCY-A", grant_3),
        ("AGENCY-C", consent_2),
        ("AGENCY-B", consent_revoked(consent_2["consent_id"])),
    ]
