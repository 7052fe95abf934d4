"""An embedded ledger with one referral chain, one entitlement and some noise, cosigned.

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
from ledger_gw.pseudonym import document_hash
from ledger_gw.workspace import Workspace
from tests.support import events as ev

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
def audit_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.create(tmp_path_factory.mktemp("audit") / "ws", DEMO)


def build_scenario(ws: Workspace, path: Path) -> Iterator[Scenario]:
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
    ledger.cosign(ws.witness("AGENCY-A"))
    ledger.cosign(ws.witness("AGENCY-B"))
    yield Scenario(ws, ledger, url, r1["referral_id"], r2["referral_id"], ent)
    ledger.close()


@pytest.fixture(scope="module")
def scenario(audit_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    yield from build_scenario(audit_ws, tmp_path_factory.mktemp("scenario"))
