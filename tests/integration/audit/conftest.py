"""An embedded ledger with one referral chain, one entitlement and some noise, its
latest checkpoint cosigned by two of the three witnesses the consortium lists (real
servers; the quorum is two).

Built once per module (keys and signatures are not free); tests only read it, and
mutate copies of the bundles they build.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.witnessing import Cosigner, endpoints
from ledger_gw.pseudonym import document_hash
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses

DOCUMENT = b"referral form: off-chain, kept by AGENCY-A"
SALT = b"\x07" * 32


@dataclass
class Scenario:
    ws: Workspace
    ledger: EmbeddedLedger
    url: str
    root_referral: str
    onward_referral: str
    entitlement: str
    ids: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def audit_witnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestWitnesses]:
    ws = Workspace.create(tmp_path_factory.mktemp("audit") / "ws", DEMO)
    orgs = ("AGENCY-A", "AGENCY-B", "AUDITOR-X")
    running = TestWitnesses(ws, tmp_path_factory.mktemp("audit-witnesses"), orgs, quorum=2)
    yield running
    running.close()


@pytest.fixture(scope="session")
def audit_ws(audit_witnesses: TestWitnesses) -> Workspace:
    return audit_witnesses.workspace


def build_scenario(ws: Workspace, path: Path, witnesses: TestWitnesses) -> Iterator[Scenario]:
    url = f"sqlite:///{path / 'ledger.db'}"
    ledger = EmbeddedLedger(url, ws.consortium, ws.log_signer())
    a, b, c = (OrgClient(ledger, ws.signer(o)) for o in ("AGENCY-A", "AGENCY-B", "AGENCY-C"))
    person = ev.pid()
    r1 = ev.referral_created(person, document_hash=document_hash(SALT, DOCUMENT))
    r2 = ev.referral_created(person, to_org="AGENCY-C", parent_referral_id=r1["referral_id"])
    grant = ev.entitlement_granted(person, amount="300")
    ent = grant["entitlement_id"]
    steps: list[tuple[OrgClient, dict[str, object]]] = [
        (a, ev.independent(0)),
        (a, r1),
        (a, ev.independent(1)),
        (b, ev.referral_step("accepted", r1["referral_id"])),
        (b, r2),
        (a, grant),
        (c, ev.referral_step("accepted", r2["referral_id"])),
        (a, ev.delivery(ent, "100")),
        (c, ev.referral_step("completed", r2["referral_id"])),
        (a, ev.delivery(ent, "50")),
        (b, ev.referral_step("completed", r1["referral_id"])),
        (a, ev.independent(2)),
    ]
    for who, event in steps:  # one commit each: a checkpoint at every size
        who.submit(event)
    witnesses.forget()  # a new log to them
    asked = [w for w in endpoints(ws.consortium) if w.org_id in ("AGENCY-A", "AGENCY-B")]
    Cosigner(ledger.engine, ws.consortium).ask(asked, None)
    yield Scenario(ws, ledger, url, r1["referral_id"], r2["referral_id"], ent)
    ledger.close()


@pytest.fixture(scope="module")
def scenario(
    audit_ws: Workspace,
    audit_witnesses: TestWitnesses,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scenario]:
    yield from build_scenario(audit_ws, tmp_path_factory.mktemp("scenario"), audit_witnesses)
