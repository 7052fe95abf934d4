"""Fabric-only: a network started from a consortium with none of the demo's names, and a
member's signing key rotated on it. Fabric's MSP accepts any certificate the member's CA
issued; the offline verifier, pinning the consortium file, accepts what each key signed
while it was the member's and refuses what the retired key signs after the rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.workspace import Workspace
from tests.integration.behaviour.conftest import NETWORK_SH, NO_FABRIC
from tests.support import events as ev
from tests.support.cli import run_cli
from tests.support.east_basin import DEFINITION

ENDORSERS = frozenset({"RIVER-AID", "HILL-HEALTH"})


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not os.environ.get("FABRIC_HOME"):
        pytest.skip(NO_FABRIC)
    root = tmp_path_factory.mktemp("east-basin-fabric")
    (root / "east-basin.toml").write_text(DEFINITION)
    env = {
        **os.environ,
        "FABRIC_STATE": str(root / "state"),
        "FABRIC_PORT_BASE": str(int(os.environ.get("FABRIC_TEST_PORT_BASE", "28000")) + 1000),
        "PYTHON": sys.executable,
    }
    up = subprocess.run(
        [str(NETWORK_SH), "up", "--consortium", str(root / "east-basin.toml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if up.returncode != 0:
        pytest.fail(f"network.sh up failed:\n{up.stdout}\n{up.stderr}")
    try:
        yield root / "state" / "profile.json"
    finally:
        subprocess.run(
            [str(NETWORK_SH), "down"], env=env, capture_output=True, timeout=120, check=False
        )


def test_the_network_is_the_consortiums_own(profile: Path) -> None:
    state = profile.parent
    orgs = sorted(p.name for p in (state / "crypto" / "peerOrganizations").iterdir())
    assert orgs == ["hill-health.ledger.local", "lake-audit.ledger.local", "river-aid.ledger.local"]
    data = json.loads(profile.read_text())
    assert sorted(data["peers"]) == ["HILL-HEALTH", "LAKE-AUDIT", "RIVER-AID"]
    assert data["endorsement_policy"] == {"required": 2, "among": ["RIVER-AID", "HILL-HEALTH"]}


def test_key_rotation_on_fabric_verifies_offline_and_refuses_the_retired_key(
    profile: Path,
) -> None:
    from ledger_gw import protos as pb
    from ledger_gw.audit.bundle import build_bundle
    from ledger_gw.audit.fabric_blocks import block_header_hash
    from ledger_gw.audit.verify import verify_bundle
    from ledger_gw.bootstrap import fabric_ledger
    from ledger_gw.fabric.gateway import FabricLedger
    from ledger_gw.fabric.verifiable import FabricLog

    workspace = profile.parent / "workspace"
    msp_ca = profile.parent / "crypto" / "peerOrganizations" / "river-aid.ledger.local" / "ca"
    ca_before = (msp_ca / "priv_sk").read_bytes()
    ledger, ws = fabric_ledger(profile)
    assert isinstance(ledger, FabricLedger)
    old = ws.signer("RIVER-AID")
    before = ev.referral_created(ev.pid(), to_org="HILL-HEALTH")
    try:
        OrgClient(ledger, old).submit(before)
    finally:
        ledger.close()

    done = run_cli("key", "rotate", "--dir", str(workspace), "--org", "RIVER-AID")
    assert done.returncode == 0, done.stderr
    assert (msp_ca / "priv_sk").read_bytes() == ca_before  # the CA key stays where it was
    assert not (workspace / "orgs" / "RIVER-AID" / "ca.key").exists()

    ledger, ws = fabric_ledger(profile)  # a gateway restarted: the new identity
    assert isinstance(ledger, FabricLedger)
    stale = FabricLedger(ledger.profile, {"RIVER-AID": old})  # one that was not
    new = ws.signer("RIVER-AID")
    assert new.cert_pem != old.cert_pem
    after = ev.referral_created(ev.pid(), to_org="HILL-HEALTH")
    retired = ev.referral_created(ev.pid(), to_org="HILL-HEALTH")
    try:
        OrgClient(ledger, new).submit(after)
        [outcome] = OrgClient(stale, old).submit_many([retired])
        assert outcome.error is None  # Fabric's MSP still accepts what the CA issued
        log = FabricLog(ledger, "LAKE-AUDIT")
        bundles = {
            name: json.dumps(
                build_bundle(log, ws.consortium, kind="referral_chain", subject=e["referral_id"])
            )
            for name, e in (("before", before), ("after", after), ("retired", retired))
        }
        genesis = block_header_hash(pb.common.Block.FromString(ledger.block(0)).header)
    finally:
        ledger.close()
        stale.close()

    pinned = Workspace.load(workspace).consortium  # the auditor's own copy of the file

    def verdict(name: str) -> set[str]:
        return verify_bundle(
            bundles[name],
            trusted_consortium=pinned,
            genesis_hash=genesis,
            endorsement_policy=(2, ENDORSERS),
        ).codes

    assert verdict("before") == set()
    assert verdict("after") == set()
    RETIRED_VERDICTS.append(verdict("retired"))


RETIRED_VERDICTS: list[set[str]] = []


def test_the_retired_key_signing_after_the_rotation_is_refused_offline(profile: Path) -> None:
    assert RETIRED_VERDICTS, "the rotation test did not run"
    assert "retired_certificate" in RETIRED_VERDICTS[0]
