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
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.client import OrgClient
from ledger_gw.demo.story import tell
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.errors import LedgerError
from ledger_gw.interfaces import Ledger
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, verify_inclusion
from ledger_gw.pseudonym import PseudonymKey, document_hash, new_salt
from ledger_gw.workspace import Workspace

WITNESS_WAIT_S = 10.0  # how long the audit waits for the witnesses' cosignatures


@dataclass
class OffChainRecord:
    """What the registering agency keeps in its own database (never sent to the ledger)."""

    attributes: dict[str, str]
    pid: str
    salts: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Journey:
    """The story told on a terminal: each organisation signs with its own key, personal
    data and documents stay in this process, and what staff read is shown."""

    ws: Workspace
    ledger: Ledger
    console: Console
    key: PseudonymKey
    kept: dict[str, OffChainRecord] = field(default_factory=dict)  # by pid

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
        record = OffChainRecord(dict(attributes), self.key.pseudonym(attributes))
        self.kept[record.pid] = record
        self.console.print(
            Panel(
                "\n".join(f"{k}: {v}" for k, v in record.attributes.items())
                + f"\n\n→ pseudonymous ID on the ledger: [bold]{record.pid}[/]",
                title=f"kept off-chain by {org} only",
                expand=False,
            )
        )
        return record.pid

    def pseudonym(self, attributes: Mapping[str, str]) -> str:
        return self.key.pseudonym(attributes)

    def document(self, org: str, pid: str, kind: str, content: bytes) -> str:
        salt = new_salt()
        record = self.kept.get(pid)
        if record is not None:
            record.salts[f"{kind}-{len(record.salts)}"] = salt
        return document_hash(salt, content)

    def submit(self, org: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.client(org).submit(event)

    def duplicate_check(self, org: str, typed: Mapping[str, str], pid: str) -> None:
        again = self.key.pseudonym(typed)
        found = self.client(org).entitlements(again, "deduplication")["entitlements"]
        self.console.print(
            f"{org}'s duplicate check for {again} ({'same' if again == pid else 'other'} "
            f"pseudonym): {len(found)} active entitlement(s) → no second registration"
        )
        for e in found:
            self.console.print(
                f"   {e['granted_by']} {e['programme']} {e['assistance_type']} "
                f"{e['delivered']}/{e['amount']} {e['currency']} until {e['end']}"
            )

    def arrival(self, org: str, spelled: Mapping[str, str], pid: str) -> None:
        other = self.key.pseudonym(spelled)
        if other != pid:
            self.console.print(
                f"[yellow]a different spelling gives another pseudonym ({other});[/] "
                f"{org} uses the one on her referral slip instead"
            )
        history = self.client(org).history(pid, "service_continuity")["events"]
        self.console.print(_events_table(f"What {org} sees under her consent", history))


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
    j = Journey(ws, ledger, console, ws.pseudonym_key())
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
