"""Fatima's journey, told once: the terminal demo narrates it, `serve --demo` seeds it.

Humanitarian service point 1: AGENCY-A registers her, gives her cash and, under her
consent, refers her to AGENCY-B, handing over her registration: AGENCY-B does not ask
her again. Service point 2: another office of AGENCY-A finds her by her pseudonymous
ID and registers no duplicate. Service point 3, in another country: AGENCY-C verifies
the card AGENCY-A issued for her entitlement, offline, and continues her assistance.
Everything the ledger holds about her is a keyed pseudonym, codes, amounts and salted
hashes; her identity travels only sealed, agency to agency, under her consent.

A `Teller` carries the story out: it keeps her personal data and documents off-chain
for the agency that collects them, submits the events as each organisation, and
narrates (or not) what staff see along the way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

FATIMA = {
    "given_name": "Fatima",
    "family_name": "Al-Hassan",
    "date_of_birth": "1991-03-14",
    "place_of_birth": "Aleppo",
}
# How staff at service point 2 type her name: canonicalisation gives the same pseudonym.
FATIMA_TYPED = {
    "given_name": " FATIMA ",
    "family_name": "al-hassan",
    "date_of_birth": "1991-03-14",
    "place_of_birth": "ALEPPO",
}
# How service point 3 spells it: another pseudonym, so her referral slip's is used.
FATIMA_SPELLED = {
    "given_name": "Fatima",
    "family_name": "Al Hassan",
    "date_of_birth": "1991-03-14",
    "place_of_birth": "Aleppo",
}
KARIM = {"given_name": "Karim", "family_name": "Haddad", "date_of_birth": "1987-09-02"}
CONSENT_FORM = b"signed consent form, scanned at service point 1"
CONSENT_FORM_B = b"signed consent form, scanned at AGENCY-B"
REFERRAL_NOTE = b"referral note: follow-up care needed (clinical details stay off-chain)"
HANDOVER_NOTE = "follow-up care needed; she prefers Arabic; phone on her registration"
CONTINUITY_NOTE = b"continuity of care"


class Teller(Protocol):
    def chapter(self, title: str) -> None:
        """A new service point."""

    def step(self, title: str) -> AbstractContextManager[None]:
        """What happens within is one step of the story."""

    def says(self, text: str) -> None:
        """A remark on what just happened."""

    def register(self, org: str, attributes: Mapping[str, str]) -> str:
        """`org` keeps her personal data; returns her pseudonymous ID."""

    def pseudonym(self, attributes: Mapping[str, str]) -> str:
        """The pseudonymous ID of someone no agency registers here."""

    def document(self, org: str, pid: str, kind: str, content: bytes) -> str:
        """`org` keeps the document off-chain; returns its salted hash for the ledger."""

    def submit(self, org: str, event: dict[str, Any]) -> dict[str, Any]:
        """The contract's answer to `event`, submitted as `org`."""

    def hand_over(self, referral_id: str, note: str) -> dict[str, Any]:
        """The referring agency seals her registration to the receiver, which registers
        her from it; what the receiver opened."""

    def other_office(self, org: str, typed: Mapping[str, str], pid: str) -> str:
        """Another caseworker of `org` types her name: her registration is found, not
        duplicated (the person ID returned), and her history read by her pseudonymous ID."""

    def card(self, org: str, grant_event_id: str) -> None:
        """`org` issues her the credential of the entitlement it granted, on a card."""

    def present_card(self, org: str) -> tuple[str, str] | None:
        """She shows her card to `org`, which checks it offline: her pseudonymous ID and
        the entitlement it proves (None where no credential could be issued)."""


@dataclass(frozen=True)
class Told:
    pid: str
    karim: str
    referrals: tuple[str, str]  # the first, and the one that continues its chain


def _id() -> str:
    return str(uuid.uuid4())


def _days(today: dt.date, days: int) -> str:
    return (today + dt.timedelta(days=days)).isoformat()


def tell(t: Teller, today: dt.date | None = None) -> Told:
    """Her journey across AGENCY-A (two offices), -B and -C, and Karim, who consented to
    no sharing."""
    today = today or dt.datetime.now(dt.UTC).date()

    def submit(org: str, event: dict[str, Any]) -> dict[str, Any]:
        return t.submit(org, {"event_id": _id(), **event})

    t.chapter("Humanitarian service point 1: AGENCY-A registers her, gives cash, refers")
    pid = t.register("AGENCY-A", FATIMA)
    consent_id, cash, grant_event, first, second = _id(), _id(), _id(), _id(), _id()

    def consent(org: str, consent_id: str, form: bytes) -> None:
        """Her consent, on the form she signed at ``org``, to share what ``org`` records
        with the consortium."""
        form_hash = t.document(org, pid, "consent_form", form)
        submit(org, {
            "type": "consent.granted", "consent_id": consent_id, "pid": pid, "grantees": ["*"],
            "purposes": ["deduplication", "referral", "service_continuity"],
            "data_categories": ["assistance", "consent", "entitlements", "referrals"],
            "lawful_basis": "consent", "expires": _days(today, 365), "form_hash": form_hash,
        })  # fmt: skip

    with t.step("consent recorded for the consortium (referral, deduplication, continuity)"):
        consent("AGENCY-A", consent_id, CONSENT_FORM)
    cash_end = _days(today, 90)
    with t.step("AGENCY-A grants multi-purpose cash: 3 × 150 USD"):
        t.submit("AGENCY-A", {
            "event_id": grant_event, "type": "entitlement.granted", "entitlement_id": cash,
            "pid": pid, "programme": "MPCA-2026", "assistance_type": "cash",
            "modality": "cash", "amount": "450.00", "currency": "USD",
            "start": today.isoformat(), "end": cash_end, "location": "LB11",
        })  # fmt: skip
    with t.step("AGENCY-A delivers the first instalment"):
        submit("AGENCY-A", {
            "type": "assistance.delivered", "entitlement_id": cash, "amount": "150.00",
            "currency": "USD", "date": today.isoformat(), "location": "LB11",
        })  # fmt: skip
    note_hash = t.document("AGENCY-A", pid, "referral", REFERRAL_NOTE)
    with t.step("AGENCY-A refers her to AGENCY-B for health care, under her consent"):
        submit("AGENCY-A", {
            "type": "referral.created", "referral_id": first, "pid": pid, "to_org": "AGENCY-B",
            "sector": "health", "urgency": "urgent", "document_hash": note_hash,
            "consent_id": consent_id,
        })  # fmt: skip
    t.hand_over(first, HANDOVER_NOTE)
    with t.step("AGENCY-B accepts and completes the referral"):
        submit("AGENCY-B", {"type": "referral.accepted", "referral_id": first})
        submit("AGENCY-B", {
            "type": "referral.completed", "referral_id": first, "outcome": "service_provided",
        })  # fmt: skip
    consent_b = _id()
    with t.step("AGENCY-B records her consent too: each agency shares what it records"):
        consent("AGENCY-B", consent_b, CONSENT_FORM_B)
    with t.step("AGENCY-B grants transport cash: flagged as a possible duplicate"):
        result = submit("AGENCY-B", {
            "type": "entitlement.granted", "entitlement_id": _id(), "pid": pid,
            "programme": "HEALTH-ACCESS", "assistance_type": "cash", "modality": "voucher",
            "amount": "40.00", "currency": "USD", "start": today.isoformat(),
            "end": _days(today, 30), "location": "LB15",
        })  # fmt: skip
    t.says(f"   possible duplicate of: {result['possible_duplicate_of']}")
    continuity_hash = t.document("AGENCY-B", pid, "referral", CONTINUITY_NOTE)
    with t.step("AGENCY-B refers her on to AGENCY-C, continuing the referral chain"):
        submit("AGENCY-B", {
            "type": "referral.created", "referral_id": second, "pid": pid, "to_org": "AGENCY-C",
            "sector": "health", "urgency": "routine", "document_hash": continuity_hash,
            "parent_referral_id": first, "consent_id": consent_b,
        })  # fmt: skip
    t.card("AGENCY-A", grant_event)

    t.chapter("Humanitarian service point 2: another office of AGENCY-A")
    t.other_office("AGENCY-A", FATIMA_TYPED, pid)
    karim = t.pseudonym(KARIM)
    with t.step("meanwhile AGENCY-B assists Karim, who did not consent to any sharing"):
        submit("AGENCY-B", {
            "type": "entitlement.granted", "entitlement_id": _id(), "pid": karim,
            "programme": "HEALTH-ACCESS", "assistance_type": "health", "modality": "service",
            "amount": "1", "currency": "USD", "start": today.isoformat(),
            "end": _days(today, 30),
        })  # fmt: skip

    t.chapter("Humanitarian service point 3: another country, AGENCY-C")
    presented = t.present_card("AGENCY-C")
    with t.step("AGENCY-C accepts, provides care and completes the referral"):
        submit("AGENCY-C", {"type": "referral.accepted", "referral_id": second})
        submit("AGENCY-C", {
            "type": "referral.completed", "referral_id": second, "outcome": "service_provided",
        })  # fmt: skip
    continued = {} if presented is None else {"continues_entitlement_id": presented[1]}
    start = dt.date.fromisoformat(cash_end) + dt.timedelta(days=1)
    with t.step("AGENCY-C continues her cash where AGENCY-A's ends, citing it"):
        submit("AGENCY-C", {
            "type": "entitlement.granted", "entitlement_id": _id(), "pid": pid,
            "programme": "MPCA-2026", "assistance_type": "cash", "modality": "cash",
            "amount": "300.00", "currency": "USD", "start": start.isoformat(),
            "end": _days(start, 60), **continued,
        })  # fmt: skip
    return Told(pid, karim, (first, second))
