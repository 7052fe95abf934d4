"""One agency's gateway on real SQLite files, and two people to register, erase and
look for again in those files: the erasure tests' common ground."""

from __future__ import annotations

from pathlib import Path

from ledger_gw.demo.consortium import DEMO
from ledger_gw.services import registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace

WRITER = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
LAYLA = {"given_name": "Layla", "family_name": "Qwertzuiop", "date_of_birth": "1990-02-11"}
OMAR = {"given_name": "Omar", "family_name": "Haddad", "date_of_birth": "1985-07-30"}


def agency_config(tmp_path: Path) -> GatewayConfig:
    """AGENCY-A's gateway alone, its ledger and off-chain store files in ``tmp_path``."""
    root = tmp_path / "ws"
    Workspace.create(root, DEMO)
    return GatewayConfig(
        directory=root,
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        offchain_url=f"sqlite:///{tmp_path}/offchain-{{org}}.db",
        orgs=("AGENCY-A",),
    )


def people(gateway: Gateway) -> set[str]:
    """Whom AGENCY-A serves: its registrations' person IDs."""
    return {p["person_id"] for p in registrations.search(gateway, WRITER).items}


def holds(tmp_path: Path, needle: bytes) -> bool:
    """Whether any of AGENCY-A's off-chain store files (WAL included) holds ``needle``."""
    return any(needle in p.read_bytes() for p in tmp_path.glob("offchain-AGENCY-A.db*"))
