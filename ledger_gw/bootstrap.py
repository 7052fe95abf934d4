"""Choosing a ledger backend: the embedded log, or a Fabric network through its gateways."""

from __future__ import annotations

import os
from pathlib import Path

from ledger_gw.errors import ConfigError
from ledger_gw.interfaces import Ledger
from ledger_gw.workspace import Workspace

BACKENDS = ("embedded", "fabric")
DEFAULT_PROFILE = Path(__file__).resolve().parent.parent / "network" / ".state" / "profile.json"


def fabric_profile_path(path: Path | None = None) -> Path:
    """The profile `network/network.sh up` wrote (or LEDGER_GW_FABRIC_PROFILE)."""
    if path is not None:
        return path
    env = os.environ.get("LEDGER_GW_FABRIC_PROFILE")
    return Path(env) if env else DEFAULT_PROFILE


def fabric_ledger(profile_path: Path | None = None) -> tuple[Ledger, Workspace]:
    """A FabricLedger holding every member's gateway identity, and that workspace."""
    from ledger_gw.fabric.gateway import FabricLedger, FabricProfile

    path = fabric_profile_path(profile_path)
    if not path.exists():
        raise ConfigError(
            f"no Fabric profile at {path}: bring a network up with "
            "`FABRIC_HOME=... network/network.sh up`, or set LEDGER_GW_FABRIC_PROFILE"
        )
    profile = FabricProfile.load(path)
    if profile.workspace is None:
        raise ConfigError(f"{path} names no workspace")
    ws = Workspace.load(profile.workspace)
    signers = {org_id: ws.signer(org_id) for org_id in ws.consortium.organisations}
    return FabricLedger(profile, signers), ws
