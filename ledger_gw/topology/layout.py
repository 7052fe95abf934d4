"""One consortium directory split the way its parties hold it: each on its own machine.

    <site>/node/                 consortium.json, node/log.key (and, once it has served,
                                 node/tls.pem and the ledger, which its first start
                                 makes if the key had none): no member's key
    <site>/<ORG>/                an agency's gateway: consortium.json, pseudonym.key,
                                 orgs/<ORG>/ only (its keys, its TLS client certificate),
                                 node/tls.pem (the node's certificate, pinned), the
                                 session.key its workers share and its own off-chain
                                 database
    <site>/witness-<ORG>/        a member's witness: its key, its memory and the
                                 consortium file (whose log key it trusts)

The operator's directory keeps every member's keys (what `ledger-gw init` made); the
site copies out of it, so that no running process is given another party's key.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger_gw.consortium import Consortium, add_witness
from ledger_gw.errors import ConfigError
from ledger_gw.services.config import create_session_key
from ledger_gw.witness import WitnessHome
from ledger_gw.workspace import NO_LEDGER_YET

CONSORTIUM_FILE = "consortium.json"
LOG_KEY = Path("node") / "log.key"
NODE_CERTIFICATE = Path("node") / "tls.pem"


@dataclass(frozen=True)
class Layout:
    """Where each party of one site keeps its own files."""

    site: Path
    agencies: tuple[str, ...]
    witnesses: tuple[str, ...]

    @property
    def node(self) -> Path:
        return self.site / "node"

    def agency(self, org: str) -> Path:
        return self.site / org

    def witness(self, org: str) -> Path:
        return self.site / f"witness-{org}"

    def parties(self) -> list[Path]:
        return [self.node, *map(self.agency, self.agencies), *map(self.witness, self.witnesses)]


def lay_out(
    operator: Path,
    site: Path,
    agencies: Sequence[str],
    witnesses: Sequence[str],
    witness_urls: dict[str, str],
) -> Layout:
    """Give each party its own directory under ``site``, copied from the operator's: the
    witnesses' keys made in theirs and listed (key and URL, a quorum of all of them) in
    the operator's consortium file, which every party then gets."""
    consortium = Consortium.load(operator / CONSORTIUM_FILE)
    for org in (*agencies, *witnesses):
        consortium.organisation(org)  # a clear error for a non-member
    for org in agencies:
        if consortium.organisation(org).role != "agency":
            raise ConfigError(f"{org} is not an agency: it runs no gateway")
    layout = Layout(site, tuple(agencies), tuple(witnesses))
    for n, org in enumerate(witnesses, start=1):
        home = WitnessHome.create(layout.witness(org), org)
        vkey = home.signer().verifier.vkey
        add_witness(operator / CONSORTIUM_FILE, org, vkey, witness_urls[org], quorum=n)
    _copy(operator, layout.node, CONSORTIUM_FILE, LOG_KEY)
    if (operator / NO_LEDGER_YET).exists():  # else the key has a ledger, not the node's
        _copy(operator, layout.node, NO_LEDGER_YET)
    for org in witnesses:
        _copy(operator, layout.witness(org), CONSORTIUM_FILE)
    for org in agencies:
        root = layout.agency(org)
        _copy(operator, root, CONSORTIUM_FILE, "pseudonym.key")
        shutil.copytree(operator / "orgs" / org, root / "orgs" / org)
        create_session_key(root / "session.key")
    return layout


def pin_node_certificate(layout: Layout) -> None:
    """Give every gateway the certificate the node made on its first start."""
    for org in layout.agencies:
        _copy(layout.node, layout.agency(org), NODE_CERTIFICATE)


def _copy(source: Path, target: Path, *names: str | Path) -> None:
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)
