"""Fatima's journey (demo.story) on a terminal, end to end on a fresh embedded ledger.

After the story, what each party may read of it, and an auditor checking the referral
chain against a witnessed checkpoint without trusting the ledger's operator.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from ledger_gw.bootstrap import embedded_ledger, gateway_over
from ledger_gw.client import OrgClient
from ledger_gw.demo.seed import Seeding, as_writer
from ledger_gw.demo.story import tell
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.errors import LedgerError
from ledger_gw.interfaces import Ledger
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, verify_inclusion
from ledger_gw.services import queries
from ledger_gw.workspace import Workspace

AGENCIES = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
WITNESS_WAIT_S = 10.0  # how long the audit waits for the witnesses' cosignatures


@dataclass
class Journey(Seeding):
    """The story told on a terminal through the gateway's own services: each
    organisation signs with its own key, personal data stays in the agencies' off-chain
    stores, and what staff read is shown. One in-process gateway serves every
    organisation, so the hand-over between AGENCY-A's and AGENCY-B's gateways is its
    signed release called in process, not over HTTP."""

    console: Console = field(default_factory=Console)
    directory: Path = Path()

    @property
    def ws(self) -> Workspace:
        return self.gateway.workspace

    @property
    def ledger(self) -> Ledger:
        return self.gateway.ledger

    def client(self, org_id: str) -> OrgClient:
        return OrgClient(self.ledger, self.ws.signer(org_id))

    def chapter(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        with self.console.status(title):
            yield
        self.console.print(f"[green]✓[/] {title}")

    def says(self, text: str) -> None:
        self.console.print(text)

    def register(self, org: str, attributes: Mapping[str, str]) -> str:
        pid = super().register(org, attributes)
        self.console.print(
            Panel(
                "\n".join(f"{k}: {v}" for k, v in attributes.items())
                + f"\n\n→ pseudonymous ID on the ledger: [bold]{pid}[/]",
                title=f"kept off-chain by {org} only",
                expand=False,
            )
        )
        return pid

    def hand_over(self, referral_id: str, note: str) -> dict[str, Any]:
        with self.step("AGENCY-A seals her registration to AGENCY-B's key (referral.handed_over)"):
            received = super().hand_over(referral_id, note)
        self.says(
            "[green]✓[/] AGENCY-B's gateway fetched it with a signed request, checked it "
            "against the ledger and registered her from it: "
            + ", ".join(f"{k}={v}" for k, v in received["attributes"].items())
        )
        self.says(f"   [bold]not asked again[/] at AGENCY-B: {NOT_ASKED_AT_B}")
        return received

    def other_office(self, org: str, typed: Mapping[str, str], pid: str) -> str:
        person_id = super().other_office(org, typed, pid)
        self.says(
            f"{org}'s other office types {typed['given_name']!r} {typed['family_name']!r}: "
            f"409 already_registered, her existing registration {person_id}"
        )
        reader = as_writer(org)
        found = queries.entitlements(self.gateway, reader, pid, "deduplication")
        for e in found["entitlements"]:
            self.says(
                f"   {e['granted_by']} {e['programme']} {e['assistance_type']} "
                f"{e['delivered']}/{e['amount']} {e['currency']} until {e['end']}"
            )
        history = queries.history(self.gateway, reader, pid, "service_continuity")["events"]
        self.console.print(_events_table(f"Her history, found by {pid}", history))
        self.says(
            "   [bold]not asked again[/]: her identity and consent; [bold]not done[/]: a "
            "second registration or a second cash grant"
        )
        return person_id

    def card(self, org: str, grant_event_id: str) -> None:
        with self.step(f"{org} issues her a credential for its cash entitlement, on a card"):
            super().card(org, grant_event_id)
        if self.card_png is None:
            self.says("   no credential on Fabric (no tlog-proof): her referral slip serves")
            return
        path = self.directory / "fatima-card.png"
        path.write_bytes(self.card_png)
        self.says(f"   SD-JWT credential, printed as a QR card: {path}")

    def present_card(self, org: str) -> tuple[str, str] | None:
        presented = super().present_card(org)
        if presented is None:
            return None
        pid, entitlement_id = presented
        self.says(
            f"[green]✓[/] {org} verified her card offline against its pinned consortium: "
            f"pseudonymous ID {pid}, entitlement {entitlement_id}"
        )
        self.says(
            f"   [bold]not asked again[/] at {org}: who she is (the card's pseudonymous "
            "ID, not a new spelling of her name), what she was granted, by whom"
        )
        history = queries.history(self.gateway, as_writer(org), pid, "service_continuity")["events"]
        self.console.print(_events_table(f"What {org} sees under her consent", history))
        return presented


NOT_ASKED_AT_B = "name, family name, date and place of birth, consent"


def _events_table(title: str, events: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("time (UTC)", "org", "event", "details"):
        table.add_column(column)
    for record in events:
        ev = record["event"]
        hidden = {"event_id", "type", "pid"}
        details = ", ".join(f"{k}={v}" for k, v in sorted(ev.items()) if k not in hidden)
        table.add_row(record["timestamp"][:19], record["org"], ev["type"], details)
    return table


Audit = Callable[["Journey", str], None]


def run_demo(
    ws: Workspace, console: Console, ledger: Ledger | None = None, audit: Audit | None = None
) -> None:
    """On the embedded ledger by default; another backend brings its ledger and audit."""
    if ledger is None:
        ledger = embedded_ledger(ws)
    gateway = gateway_over(ws, ledger, AGENCIES)
    j = Journey(gateway, console=console, directory=ws.root)
    told = tell(j)
    console.rule("[bold]What each party saw")
    people = {
        "Fatima (consent to the consortium)": told.pid,
        "Karim (no consent to share)": told.karim,
    }
    _show_parties(j, people)
    if audit is not None:
        audit(j, told.referrals[1])
        return
    console.rule("[bold]Audit: the referral chain against a witnessed checkpoint")
    _audit_chain(j, told.referrals[1])


def _show_parties(j: Journey, people: dict[str, str]) -> None:
    table = Table(
        title="A person's history, as each organisation may read it", title_justify="left"
    )
    for column in ("person", "reader", "events seen", "written by"):
        table.add_column(column)
    for who, pid in people.items():
        for n, org_id in enumerate(("AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X", "DONOR-Y")):
            label = who if n == 0 else ""
            try:
                events = j.client(org_id).history(pid, "service_continuity")["events"]
            except LedgerError as exc:
                table.add_row(label, org_id, f"refused ({exc.code})", "aggregates only")
                continue
            writers = ", ".join(sorted({e["org"] for e in events}))
            table.add_row(label, org_id, str(len(events)), writers)
        table.add_section()
    j.console.print(table)
    j.console.print(
        f"The ledger holds {j.ledger.size()} entries: pseudonyms, codes, amounts "
        "and salted hashes; no name, birth date or free text."
    )


def _audit_chain(j: Journey, referral_id: str) -> None:
    assert isinstance(j.ledger, EmbeddedLedger)
    j.ledger.settle_witnesses(WITNESS_WAIT_S)  # the ledger pushed its checkpoints to them
    consortium = j.ws.consortium
    note = j.ledger.log.checkpoint()
    log_key = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
    checkpoint = ckpt.open_checkpoint(
        note, log_key, consortium.witness_verifiers(), quorum=consortium.witness_quorum
    )
    cp = checkpoint.checkpoint
    j.console.print(
        Panel(
            note.rstrip(),
            title=f"checkpoint, cosigned by {', '.join(checkpoint.witnesses)}",
            expand=False,
        )
    )
    chain = j.client("AUDITOR-X").referral_chain(referral_id)["chain"]
    table = Table(title="Referral chain, each event proven in the log", title_justify="left")
    for column in ("referral", "from → to", "event", "by", "log position", "inclusion"):
        table.add_column(column)
    for link in chain:
        for record in link["events"]:
            position = j.ledger.log.position_of(record["tx_id"])
            entry = j.ledger.log.entry(position)
            proof = j.ledger.log.inclusion_proof(position, cp.size)
            verify_inclusion(leaf_hash(entry), position, cp.size, proof, cp.root_hash)
            signed = json.loads(entry)["tx"]["proposal"]["args"][0] == record["event"]
            table.add_row(
                link["referral_id"][:8],
                f"{link['from_org']} → {link['to_org']}",
                record["event"]["type"],
                record["org"],
                str(position),
                "[green]verified[/]" if signed else "[red]mismatch[/]",
            )
    j.console.print(table)
    report = verify_ledger(j.ledger.engine, j.ws.consortium)
    j.console.print(
        f"[green]Whole ledger verified[/]: {report.size} entries replayed, root "
        f"{base64.b64encode(report.root).decode()}, {report.checkpoints} checkpoints, "
        f"{report.cosignatures} cosignatures."
    )
