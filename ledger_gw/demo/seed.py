"""Fatima's journey (demo.story) through the gateway's own services: `serve --demo`'s data.

Her personal data goes into AGENCY-A's off-chain store; the ledger gets her pseudonymous
ID, codes, amounts and the keyed hashes of her consent form and referral notes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from ledger_gw.bootstrap import open_gateway
from ledger_gw.consortium import Consortium
from ledger_gw.demo.consortium import DEMO, DEMO_TOKENS
from ledger_gw.demo.made import mark_made
from ledger_gw.demo.story import FATIMA, tell
from ledger_gw.demo.synthetic import seed_synthetic
from ledger_gw.demo.witnesses import enlist
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.files import SECRET, write_file
from ledger_gw.pseudonym import document_hash, new_salt
from ledger_gw.services import credentials, events, handover, registrations
from ledger_gw.services.access import Caller, Role, issue_token
from ledger_gw.services.config import GatewayConfig, create_session_key
from ledger_gw.services.credentials import DISCLOSABLE
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace

WITNESS_WAIT_S = 10.0  # how long issuing a credential waits for the witnesses


def as_writer(org: str) -> Caller:
    return Caller("seed", org, Role.AGENCY_WRITER)


@dataclass
class Seeding:
    """The story told through the gateway's services, quietly: registrations and
    documents go into the agencies' off-chain stores, events through the API's checks."""

    gateway: Gateway
    people: dict[tuple[str, str], str] = field(default_factory=dict)  # (org, pid) → person
    credential: str | None = None
    card_png: bytes | None = None

    def chapter(self, title: str) -> None:
        pass

    def step(self, title: str) -> AbstractContextManager[None]:
        return nullcontext()

    def says(self, text: str) -> None:
        pass

    def register(self, org: str, attributes: Mapping[str, str]) -> str:
        person = registrations.register(self.gateway, as_writer(org), attributes)
        self.people[org, person["pid"]] = person["person_id"]
        return str(person["pid"])

    def pseudonym(self, attributes: Mapping[str, str]) -> str:
        return self.gateway.pseudonym_key.pseudonym(attributes)

    def document(self, org: str, pid: str, kind: str, content: bytes) -> str:
        person_id = self.people.get((org, pid))
        if person_id is None:  # an agency that holds no registration of hers
            return document_hash(new_salt(), content)
        stored = registrations.add_document(self.gateway, as_writer(org), person_id, kind, content)
        return str(stored["hash"])

    def submit(self, org: str, event: dict[str, Any]) -> dict[str, Any]:
        return events.submit(self.gateway, as_writer(org), event)[0]

    def hand_over(self, referral_id: str, note: str) -> dict[str, Any]:
        """AGENCY-A seals her registration; AGENCY-B's gateway fetches and opens it (here
        the same gateway, through the same signed request) and registers her from it."""
        sent = handover.prepare(self.gateway, as_writer("AGENCY-A"), referral_id, note)
        received = handover.from_referral(self.gateway, as_writer(sent["to_org"]), referral_id)
        person = registrations.register(
            self.gateway, as_writer(sent["to_org"]), received["attributes"]
        )
        self.people[sent["to_org"], person["pid"]] = person["person_id"]
        return received

    def other_office(self, org: str, typed: Mapping[str, str], pid: str) -> str:
        """The existing person ID the 409 `already_registered` answer names."""
        caseworker = Caller("second-office", org, Role.AGENCY_WRITER)
        try:
            registrations.register(self.gateway, caseworker, typed)
        except registrations.AlreadyRegisteredError as exc:
            return exc.person_id
        raise AssertionError("her registration was not found")  # pragma: no cover

    def card(self, org: str, grant_event_id: str) -> None:
        ledger = self.gateway.ledger
        if not isinstance(ledger, EmbeddedLedger):
            return  # Fabric has no tlog-proof, so no credential
        ledger.settle_witnesses(WITNESS_WAIT_S)  # a credential stands on a witnessed event
        issued = credentials.issue(
            self.gateway, as_writer(org), grant_event_id, "service_continuity", DISCLOSABLE
        )
        self.credential = issued.credential.text()
        self.card_png = credentials.render_card(
            self.credential.encode(), self.gateway.workspace.consortium, "png"
        )

    def present_card(self, org: str) -> tuple[str, str] | None:
        if self.card_png is None:
            return None
        pinned = Consortium.load(self.gateway.workspace.root / "consortium.json")
        verified = credentials.verify_offline(self.card_png, pinned)
        return verified.pid, verified.binding.ref


def seed_fatima(gateway: Gateway) -> dict[str, Any]:
    """Register Fatima at AGENCY-A and record her journey across AGENCY-A, -B and -C."""
    seeding = Seeding(gateway)
    told = tell(seeding)
    person_id = seeding.people["AGENCY-A", told.pid]
    return {
        "pid": told.pid,
        "person_id": person_id,
        "referrals": list(told.referrals),
        "credential": seeding.credential,
    }


def create_demo(directory: Path) -> None:
    """The demo consortium with its witnesses (demo.witnesses), unless it exists, marked
    as the demo's (demo.made); one that `ledger-gw init` made, with an empty ledger,
    gets its witnesses and stays the user's."""
    if not (directory / "consortium.json").exists():
        Workspace.create(directory, DEMO)
        mark_made(directory)
    ws = Workspace.load(directory)
    if not ws.consortium.witness_urls() and not (directory / "ledger.db").exists():
        enlist(directory)


def prepare_demo(config: GatewayConfig) -> tuple[dict[str, str], str]:
    """Seed Fatima once into the demo consortium, issue fresh demo tokens. Its witnesses
    must be running (demo.witnesses.running_witnesses): closing the ledger waits a
    moment for them to cosign its latest checkpoint."""
    directory = config.directory
    gw = open_gateway(config)
    try:
        create_session_key(gw.config.session_key_path)
        if gw.ledger.size() == 0:
            journey = seed_fatima(gw)
            seed_synthetic(gw)
            (directory / "demo-journey.json").write_text(
                json.dumps({k: journey[k] for k in ("referrals", "credential")}) + "\n"
            )
        pid = gw.pseudonym_key.pseudonym(FATIMA)
        tokens: dict[str, str] = {}
        for org, role in DEMO_TOKENS:
            _, tokens[f"{org}/{role}"] = issue_token(gw.store(org), gw.org_role(org), role, "demo")
    finally:
        gw.close()
    path = directory / "demo-tokens.json"
    write_file(path, json.dumps(tokens, indent=2).encode(), SECRET)
    return tokens, pid


def show_demo(
    console: Console, url: str, directory: Path, tokens: dict[str, str], pid: str
) -> None:
    """Where to look first: the dashboard, Fatima's chain, the demo tokens, one curl."""
    console.print(f"[bold]Gateway[/]  {url}\n[bold]API docs[/] {url}/docs")
    console.print(
        f"[bold]Dashboard[/] {url}/dashboard/ : log in with the AUDITOR-X/auditor token "
        "(referral chains, bundle checks) or the DONOR-Y/donor token (accountability "
        "report); an agency token shows its own organisation's report.",
        soft_wrap=True,
        highlight=False,
    )
    journey = directory / "demo-journey.json"
    if journey.exists():
        first = json.loads(journey.read_text())["referrals"][0]
        console.print(
            f"Fatima's referral chain, for the auditor: {url}/dashboard/audit/chain"
            f"?referral_id={first}",
            soft_wrap=True,
            highlight=False,
        )
    console.print("Demo tokens (also in demo-tokens.json; use as `Authorization: Bearer …`):")
    for name, secret in tokens.items():
        console.print(f"  {name:<24} {secret}", soft_wrap=True, highlight=False)
    console.print(
        "Fatima's history, as AGENCY-C sees it:\n"
        f"  curl -H 'Authorization: Bearer {tokens['AGENCY-C/agency-writer']}' "
        f"'{url}/v1/persons/{pid}/history?purpose=service_continuity'",
        soft_wrap=True,
        highlight=False,
    )
