"""A few hundred synthetic people across the three agencies, for the demo's dashboard.

Nobody here is real and nothing personal is written anywhere: each person is a
person-held random ID (``h.…``, as on a card or QR code), so the agencies' off-chain
stores stay empty of them. The ledger refuses transactions more than 10 minutes from
its clock, so every event is submitted now; what spreads over the past weeks is the
events' own dates (entitlement periods, delivery dates), which is what the reports
chart. Sizes are chosen so that most cells are published and a few fall below k
(a rare location, a rare sector, a thin month), to show suppression as it works.

Events go in phases through the gateway's own batch service (the same checks as the
API), each phase after the one it depends on: consents and grants, then deliveries,
referrals and overlapping grants, then the receiving agencies' answers, then outcomes.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger_gw.errors import of_kind
from ledger_gw.services import events
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.gateway import Gateway

AGENCIES = {"AGENCY-A": 140, "AGENCY-B": 100, "AGENCY-C": 60}
LOCATIONS = {
    "AGENCY-A": (("LB11", 6), ("LB12", 3)),
    "AGENCY-B": (("LB21", 5), ("LB22", 3)),
    "AGENCY-C": (("LB31", 6), ("LB81", 1)),  # LB81: a handful of people, suppressed
}
# programme -> (assistance type, modality, amount per entitlement in USD, deliveries)
PROGRAMMES = {
    "MPCA-2026": ("cash", "cash", 450, 3),
    "MPCA-2025": ("food", "voucher", 120, 4),
    "HEALTH-ACCESS": ("health", "service", 60, 2),
    "WASH-2026": ("wash", "in_kind", 80, 2),
    "SHELTER-2026": ("shelter", "in_kind", 300, 1),
}
PROGRAMME_WEIGHTS = (("MPCA-2026", 8), ("MPCA-2025", 5), ("HEALTH-ACCESS", 3), ("WASH-2026", 3))
SECTORS = (("health", 8), ("protection", 5), ("shelter", 4), ("education", 3), ("legal_aid", 1))
REFERRED, ACCEPTED, DECLINED, COMPLETED = 0.4, 0.75, 0.1, 0.65
DUPLICATES = 8  # people granted cash twice by two agencies; half revoked as duplicates
WEEKS = 8
EARLY = 3  # people helped in the month before everyone else, fewer than k
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


@dataclass
class _Plan:
    """Events to submit, by phase and by the organisation that signs them."""

    phases: list[dict[str, list[dict[str, Any]]]] = field(
        default_factory=lambda: [defaultdict(list) for _ in range(4)]
    )

    def add(self, phase: int, org: str, event: dict[str, Any]) -> None:
        self.phases[phase][org].append(event)


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    names = [name for name, _ in weighted]
    return rng.choices(names, weights=[w for _, w in weighted])[0]


class _Builder:
    def __init__(self, rng: random.Random, today: dt.date) -> None:
        self.rng, self.today, self.plan = rng, today, _Plan()

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def pid(self) -> str:
        return "h." + "".join(self.rng.choice(_BASE32) for _ in range(26))

    def ev(self, phase: int, org: str, event: dict[str, Any]) -> None:
        self.plan.add(phase, org, {"event_id": self.uid(), **event})

    def person(self, org: str) -> None:
        rng, pid, consent_id = self.rng, self.pid(), self.uid()
        self.ev(0, org, {
            "type": "consent.granted", "consent_id": consent_id, "pid": pid, "grantees": ["*"],
            "purposes": ["deduplication", "referral", "service_continuity"],
            "data_categories": ["assistance", "consent", "entitlements", "referrals"],
            "lawful_basis": "consent",
            "expires": (self.today + dt.timedelta(days=365)).isoformat(), "form_hash": self.hex(),
        })  # fmt: skip
        programme = "SHELTER-2026" if rng.random() < 0.015 else _pick(rng, PROGRAMME_WEIGHTS)
        location = _pick(rng, LOCATIONS[org])
        self.grant(org, pid, programme, location, deliveries=True)
        if rng.random() < REFERRED:
            self.referral(org, pid, consent_id)

    def grant(
        self, org: str, pid: str, programme: str, location: str, *, deliveries: bool, phase: int = 0
    ) -> str:
        rng, entitlement_id = self.rng, self.uid()
        assistance, modality, amount, count = PROGRAMMES[programme]
        start = self.today - dt.timedelta(days=rng.randint(7, WEEKS * 7 + 2))
        self.ev(phase, org, {
            "type": "entitlement.granted", "entitlement_id": entitlement_id, "pid": pid,
            "programme": programme, "assistance_type": assistance, "modality": modality,
            "amount": f"{amount}.00", "currency": "USD", "start": start.isoformat(),
            "end": (start + dt.timedelta(days=120)).isoformat(), "location": location,
        })  # fmt: skip
        span = (self.today - start).days
        for _ in range(rng.randint(1, count) if deliveries else 0):
            day = start + dt.timedelta(days=rng.randint(0, span))
            self.ev(1, org, {
                "type": "assistance.delivered", "entitlement_id": entitlement_id,
                "amount": f"{amount / count:.2f}", "currency": "USD", "date": day.isoformat(),
            })  # fmt: skip
        return entitlement_id

    def early(self, org: str) -> None:
        """One of a thin cohort helped in the calendar month before everyone else: a
        month below k on the donors' chart."""
        pid, entitlement_id = self.pid(), self.uid()
        first = (self.today - dt.timedelta(days=WEEKS * 7 + 2)).replace(day=1)
        start = first - dt.timedelta(days=15)
        self.ev(0, org, {
            "type": "entitlement.granted", "entitlement_id": entitlement_id, "pid": pid,
            "programme": "MPCA-2026", "assistance_type": "cash", "modality": "cash",
            "amount": "150.00", "currency": "USD", "start": start.isoformat(),
            "end": (start + dt.timedelta(days=120)).isoformat(), "location": "LB31",
        })  # fmt: skip
        self.ev(1, org, {
            "type": "assistance.delivered", "entitlement_id": entitlement_id,
            "amount": "150.00", "currency": "USD", "date": start.isoformat(),
        })  # fmt: skip

    def referral(self, org: str, pid: str, consent_id: str) -> None:
        rng, referral_id = self.rng, self.uid()
        to_org = rng.choice([o for o in AGENCIES if o != org])
        self.ev(1, org, {
            "type": "referral.created", "referral_id": referral_id, "pid": pid, "to_org": to_org,
            "sector": _pick(rng, SECTORS), "urgency": rng.choice(["routine", "urgent"]),
            "document_hash": self.hex(), "consent_id": consent_id,
        })  # fmt: skip
        answer = rng.random()
        if answer < DECLINED:
            self.ev(2, to_org, {
                "type": "referral.declined", "referral_id": referral_id, "reason": "capacity",
            })  # fmt: skip
        elif answer < DECLINED + ACCEPTED:
            self.ev(2, to_org, {"type": "referral.accepted", "referral_id": referral_id})
            if rng.random() < COMPLETED:
                self.ev(3, to_org, {
                    "type": "referral.completed", "referral_id": referral_id,
                    "outcome": rng.choice(["service_provided", "service_provided",
                                           "partially_provided"]),
                })  # fmt: skip

    def duplicate(self, first: str, second: str) -> None:
        """The same person granted cash by two agencies: the ledger flags the second."""
        pid = self.pid()
        self.grant(first, pid, "MPCA-2026", _pick(self.rng, LOCATIONS[first]), deliveries=False)
        dup = self.grant(
            second, pid, "MPCA-2026", _pick(self.rng, LOCATIONS[second]), deliveries=False, phase=1
        )
        if self.rng.random() < 0.5:
            self.ev(2, second, {
                "type": "entitlement.revoked", "entitlement_id": dup, "reason": "duplicate",
            })  # fmt: skip


def plan(seed: int = 2026, today: dt.date | None = None) -> list[dict[str, list[dict[str, Any]]]]:
    """The events, by phase and signing organisation; the same seed gives the same people."""
    builder = _Builder(random.Random(seed), today or dt.datetime.now(dt.UTC).date())  # noqa: S311
    for org, count in AGENCIES.items():
        for _ in range(count):
            builder.person(org)
    orgs = list(AGENCIES)
    for _ in range(EARLY):
        builder.early("AGENCY-C")
    for i in range(DUPLICATES):
        builder.duplicate(orgs[i % 3], orgs[(i + 1) % 3])
    return builder.plan.phases


def seed_synthetic(gateway: Gateway, seed: int = 2026) -> dict[str, int]:
    """Submit the synthetic population (the ledger pushes its checkpoints to the
    consortium's witnesses meanwhile); returns how many events each organisation
    signed. Any rejected event is a bug in this module, so it raises."""
    signed: dict[str, int] = defaultdict(int)
    for phase in plan(seed):
        for org, batch in phase.items():
            caller = Caller("seed", org, Role.AGENCY_WRITER)
            limit = gateway.config.max_batch
            for i in range(0, len(batch), limit):
                for item in events.submit_batch(gateway, caller, batch[i : i + limit]):
                    if item["status"] == "rejected":
                        err = item["error"]
                        raise of_kind(
                            err["kind"], err["detail"], code=err["code"], field=err["field"]
                        )
            signed[org] += len(batch)
    return dict(signed)
