"""Fatima's journey: the seed story, end to end on a fresh embedded ledger.

She registers once, at service point 1; her identity never leaves the agency that
collected it. Everything the ledger holds about her is a keyed pseudonym, codes,
amounts and salted hashes. At each later service point she is found by that
pseudonym, under the consent she gave, and an auditor can check the referral
chain against a witnessed checkpoint without trusting the ledger's operator.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.errors import LedgerError
from ledger_gw.interfaces import Ledger
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, verify_inclusion
from ledger_gw.pseudonym import document_hash, new_salt
from ledger_gw.workspace import Workspace

QUORUM = 2  # witnesses an auditor requires on a checkpoint


def _id() -> str:
    return str(uuid.uuid4())


@dataclass
class OffChainRecord:
    """What agency A keeps in its own database (never sent to the ledger)."""

    attributes: dict[str, str]
    pid: str
    salts: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Journey:
    ws: Workspace
    ledger: Ledger
    console: Console
    today: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())

    def client(self, org_id: str) -> OrgClient:
        return OrgClient(self.ledger, self.ws.signer(org_id))

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        with self.console.status(title):
            yield
        self.console.print(f"[green]✓[/] {title}")

    def submit(self, org_id: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.client(org_id).submit(event)


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
        ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    j = Journey(ws, ledger, console)
    key = ws.pseudonym_key()
    today = j.today
    console.rule("[bold]Service point 1: registration at AGENCY-A (cash)")

    # Registration: personal data stays in AGENCY-A's own store.
    fatima = OffChainRecord(
        {
            "given_name": "Fatima",
            "family_name": "Al-Hassan",
            "date_of_birth": "1991-03-14",
            "place_of_birth": "Aleppo",
        },
        pid="",
    )
    fatima.pid = key.pseudonym(fatima.attributes)
    console.print(
        Panel(
            "\n".join(f"{k}: {v}" for k, v in fatima.attributes.items())
            + f"\n\n→ pseudonymous ID on the ledger: [bold]{fatima.pid}[/]",
            title="kept off-chain by AGENCY-A only",
            expand=False,
        )
    )

    consent_form = b"signed consent form, scanned at service point 1"
    fatima.salts["consent"] = new_salt()
    consent_id = _id()
    with j.step("consent recorded for the consortium (referral, deduplication, continuity)"):
        j.submit(
            "AGENCY-A",
            {
                "event_id": _id(),
                "type": "consent.granted",
                "consent_id": consent_id,
                "pid": fatima.pid,
                "grantees": ["*"],
                "purposes": ["deduplication", "referral", "service_continuity"],
                "data_categories": ["assistance", "consent", "entitlements", "referrals"],
                "lawful_basis": "consent",
                "expires": (today + dt.timedelta(days=365)).isoformat(),
                "form_hash": document_hash(fatima.salts["consent"], consent_form),
            },
        )

    cash_id = _id()
    with j.step("AGENCY-A grants multi-purpose cash: 3 × 150 USD"):
        j.submit(
            "AGENCY-A",
            {
                "event_id": _id(),
                "type": "entitlement.granted",
                "entitlement_id": cash_id,
                "pid": fatima.pid,
                "programme": "MPCA-2026",
                "assistance_type": "cash",
                "modality": "cash",
                "amount": "450.00",
                "currency": "USD",
                "start": today.isoformat(),
                "end": (today + dt.timedelta(days=90)).isoformat(),
                "location": "LB11",
            },
        )
    with j.step("AGENCY-A delivers the first instalment"):
        j.submit(
            "AGENCY-A",
            {
                "event_id": _id(),
                "type": "assistance.delivered",
                "entitlement_id": cash_id,
                "amount": "150.00",
                "currency": "USD",
                "date": today.isoformat(),
                "location": "LB11",
            },
        )

    referral_note = b"referral note: follow-up care needed (clinical details stay off-chain)"
    fatima.salts["referral-1"] = new_salt()
    first_referral = _id()
    with j.step("AGENCY-A refers her to AGENCY-B for health care"):
        j.submit(
            "AGENCY-A",
            {
                "event_id": _id(),
                "type": "referral.created",
                "referral_id": first_referral,
                "pid": fatima.pid,
                "to_org": "AGENCY-B",
                "sector": "health",
                "urgency": "urgent",
                "document_hash": document_hash(fatima.salts["referral-1"], referral_note),
                "consent_id": consent_id,
            },
        )
    with j.step("AGENCY-B accepts and completes the referral"):
        j.submit(
            "AGENCY-B",
            {"event_id": _id(), "type": "referral.accepted", "referral_id": first_referral},
        )
        j.submit(
            "AGENCY-B",
            {
                "event_id": _id(),
                "type": "referral.completed",
                "referral_id": first_referral,
                "outcome": "service_provided",
            },
        )

    console.rule("[bold]Service point 2: she arrives elsewhere in the country")
    # Staff type her name differently; canonicalisation gives the same pseudonym.
    typed = {
        "given_name": " FATIMA ",
        "family_name": "al-hassan",
        "date_of_birth": "1991-03-14",
        "place_of_birth": "ALEPPO",
    }
    again = key.pseudonym(typed)
    found = j.client("AGENCY-A").entitlements(again, "deduplication")["entitlements"]
    console.print(
        f"AGENCY-A's duplicate check for {again} ({'same' if again == fatima.pid else 'other'} "
        f"pseudonym): {len(found)} active entitlement(s) → no second registration"
    )
    for e in found:
        console.print(
            f"   {e['granted_by']} {e['programme']} {e['assistance_type']} "
            f"{e['delivered']}/{e['amount']} {e['currency']} until {e['end']}"
        )
    with j.step("AGENCY-B grants transport cash: flagged as a possible duplicate"):
        result = j.submit(
            "AGENCY-B",
            {
                "event_id": _id(),
                "type": "entitlement.granted",
                "entitlement_id": _id(),
                "pid": fatima.pid,
                "programme": "HEALTH-ACCESS",
                "assistance_type": "cash",
                "modality": "voucher",
                "amount": "40.00",
                "currency": "USD",
                "start": today.isoformat(),
                "end": (today + dt.timedelta(days=30)).isoformat(),
                "location": "LB15",
            },
        )
    console.print(f"   possible duplicate of: {result['possible_duplicate_of']}")

    fatima.salts["referral-2"] = new_salt()
    second_referral = _id()
    with j.step("AGENCY-B refers her on to AGENCY-C, continuing the referral chain"):
        j.submit(
            "AGENCY-B",
            {
                "event_id": _id(),
                "type": "referral.created",
                "referral_id": second_referral,
                "pid": fatima.pid,
                "to_org": "AGENCY-C",
                "sector": "health",
                "urgency": "routine",
                "document_hash": document_hash(fatima.salts["referral-2"], b"continuity of care"),
                "parent_referral_id": first_referral,
                "consent_id": consent_id,
            },
        )

    karim = key.pseudonym(
        {"given_name": "Karim", "family_name": "Haddad", "date_of_birth": "1987-09-02"}
    )
    with j.step("AGENCY-B also assists Karim, who did not consent to any sharing"):
        j.submit(
            "AGENCY-B",
            {
                "event_id": _id(),
                "type": "entitlement.granted",
                "entitlement_id": _id(),
                "pid": karim,
                "programme": "HEALTH-ACCESS",
                "assistance_type": "health",
                "modality": "service",
                "amount": "1",
                "currency": "USD",
                "start": today.isoformat(),
                "end": (today + dt.timedelta(days=30)).isoformat(),
            },
        )

    console.rule("[bold]Service point 3: another country, AGENCY-C")
    pid_c = key.pseudonym(
        {
            "given_name": "Fatima",
            "family_name": "Al Hassan",
            "date_of_birth": "1991-03-14",
            "place_of_birth": "Aleppo",
        }
    )
    if pid_c != fatima.pid:
        console.print(
            f"[yellow]a different spelling gives another pseudonym ({pid_c});[/] "
            "AGENCY-C uses the one on her referral slip instead"
        )
    history = j.client("AGENCY-C").history(fatima.pid, "service_continuity")["events"]
    console.print(_events_table("What AGENCY-C sees under her consent", history))
    with j.step("AGENCY-C accepts, provides care and completes the referral"):
        j.submit(
            "AGENCY-C",
            {"event_id": _id(), "type": "referral.accepted", "referral_id": second_referral},
        )
        j.submit(
            "AGENCY-C",
            {
                "event_id": _id(),
                "type": "referral.completed",
                "referral_id": second_referral,
                "outcome": "service_provided",
            },
        )

    console.rule("[bold]What each party saw")
    _show_parties(
        j, {"Fatima (consent to the consortium)": fatima.pid, "Karim (no consent to share)": karim}
    )
    if audit is not None:
        audit(j, second_referral)
        return
    console.rule("[bold]Audit: the referral chain against a witnessed checkpoint")
    _audit_chain(j, second_referral)


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
    for org_id in ("AGENCY-A", "AGENCY-B", "AGENCY-C"):
        j.ledger.cosign(j.ws.witness(org_id))
    note = j.ledger.log.checkpoint()
    log_key = ckpt.NoteVerifier.from_vkey(j.ws.consortium.log_vkey)
    witnesses = [
        ckpt.NoteVerifier.from_vkey(o.witness_vkey) for o in j.ws.consortium.organisations.values()
    ]
    checkpoint = ckpt.open_checkpoint(note, log_key, witnesses, quorum=QUORUM)
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
