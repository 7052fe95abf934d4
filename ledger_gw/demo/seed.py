"""Fatima's journey through the gateway's own services, quietly: demo data for `serve --demo`.

Her personal data goes into AGENCY-A's off-chain store; the ledger gets her pseudonymous
ID, codes, amounts and the keyed hashes of her consent form and referral ckpt.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from typing import Any

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO, DEMO_TOKENS
from ledger_gw.demo.synthetic import seed_synthetic
from ledger_gw.services import events, registrations
from ledger_gw.services.access import Caller, Role, issue_token
from ledger_gw.services.config import GatewayConfig, create_session_key
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace

FATIMA = {
    "given_name": "Fatima",
    "family_name": "Al-Hassan",
    "date_of_birth": "1991-03-14",
    "place_of_birth": "Aleppo",
}


def _id() -> str:
    return str(uuid.uuid4())


def _as(org: str) -> Caller:
    return Caller("seed", org, Role.AGENCY_WRITER)


def seed_fatima(gateway: Gateway) -> dict[str, Any]:
    """Register Fatima at AGENCY-A and record her journey across AGENCY-A, -B and -C."""
    a, b, c = _as("AGENCY-A"), _as("AGENCY-B"), _as("AGENCY-C")
    today = dt.datetime.now(dt.UTC).date()
    person = registrations.register(gateway, a, FATIMA)
    pid, person_id = person["pid"], person["person_id"]
    form = registrations.add_document(
        gateway, a, person_id, "consent_form", b"signed consent form, service point 1"
    )
    note = registrations.add_document(
        gateway, a, person_id, "referral", b"referral note: follow-up care needed"
    )
    consent_id, cash, first, second = _id(), _id(), _id(), _id()

    def submit(who: Caller, event: dict[str, Any]) -> dict[str, Any]:
        return events.submit(gateway, who, {"event_id": _id(), **event})[0]

    submit(a, {
        "type": "consent.granted", "consent_id": consent_id, "pid": pid, "grantees": ["*"],
        "purposes": ["deduplication", "referral", "service_continuity"],
        "data_categories": ["assistance", "consent", "entitlements", "referrals"],
        "lawful_basis": "consent", "expires": (today + dt.timedelta(days=365)).isoformat(),
        "form_hash": form["hash"],
    })  # fmt: skip
    submit(a, {
        "type": "entitlement.granted", "entitlement_id": cash, "pid": pid,
        "programme": "MPCA-2026", "assistance_type": "cash", "modality": "cash",
        "amount": "450.00", "currency": "USD", "start": today.isoformat(),
        "end": (today + dt.timedelta(days=90)).isoformat(), "location": "LB11",
    })  # fmt: skip
    submit(a, {
        "type": "assistance.delivered", "entitlement_id": cash, "amount": "150.00",
        "currency": "USD", "date": today.isoformat(), "location": "LB11",
    })  # fmt: skip
    submit(a, {
        "type": "referral.created", "referral_id": first, "pid": pid, "to_org": "AGENCY-B",
        "sector": "health", "urgency": "urgent", "document_hash": note["hash"],
        "consent_id": consent_id,
    })  # fmt: skip
    submit(b, {"type": "referral.accepted", "referral_id": first})
    submit(b, {"type": "referral.completed", "referral_id": first, "outcome": "service_provided"})
    submit(b, {
        "type": "referral.created", "referral_id": second, "pid": pid, "to_org": "AGENCY-C",
        "sector": "health", "urgency": "routine", "document_hash": "ab" * 32,
        "parent_referral_id": first, "consent_id": consent_id,
    })  # fmt: skip
    submit(c, {"type": "referral.accepted", "referral_id": second})
    return {"pid": pid, "person_id": person_id, "referrals": [first, second]}


def prepare_demo(config: GatewayConfig) -> tuple[dict[str, str], str]:
    """Create the demo consortium if missing, seed Fatima once, issue fresh demo tokens."""
    directory = config.directory
    if not (directory / "consortium.json").exists():
        Workspace.create(directory, DEMO)
    gw = open_gateway(config)
    try:
        create_session_key(gw.config.session_key_path)
        if gw.ledger.size() == 0:
            journey = seed_fatima(gw)
            seed_synthetic(gw)
            (directory / "demo-journey.json").write_text(
                json.dumps({"referrals": journey["referrals"]}) + "\n"
            )
        pid = gw.pseudonym_key.pseudonym(FATIMA)
        tokens: dict[str, str] = {}
        for org, role in DEMO_TOKENS:
            _, tokens[f"{org}/{role}"] = issue_token(gw.store(org), gw.org_role(org), role, "demo")
    finally:
        gw.close()
    path = directory / "demo-tokens.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(tokens, f, indent=2)
    return tokens, pid
