"""One behaviour suite, three backends: the embedded ledger and a log node always, Fabric
when it can run.

The log node is one process for the session, on its own consortium with its own two
witnesses (the embedded tests' witnesses forget their ledgers between tests, which a
long-lived node's would see as a fork); each member has its own directory with only its
own keys, and reaches the node over mutual TLS on loopback.

The Fabric side needs Fabric 2.5 or 3.1 release binaries (FABRIC_HOME). It uses the network
named by LEDGER_GW_FABRIC_PROFILE when set (one `network/network.sh up` started), and
otherwise brings up its own network for the session in a temporary directory, on ports
from FABRIC_TEST_PORT_BASE (default 28000), with FABRIC_TEST_ORDERERS Raft orderers (1,
the default, or 3), and takes it down at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger_gw.bootstrap import issue_log_client_certificate, remote_ledger
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium, add_witness
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.errors import ConflictError
from ledger_gw.fabric.gateway import FabricProfile
from ledger_gw.interfaces import Ledger, VerifiableLog
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.services.config import GatewayConfig
from ledger_gw.topology import processes
from ledger_gw.witness import WitnessHome
from ledger_gw.witness.home import KEY_FILE
from ledger_gw.workspace import NO_LEDGER_YET, Workspace
from tests.support.witnesses import TestWitnesses

NETWORK_SH = Path(__file__).resolve().parents[3] / "network" / "network.sh"
NO_FABRIC = (
    "FABRIC_HOME is not set: the Fabric side of the behaviour suite needs Fabric 2.5 or 3.1 "
    "release binaries (bin/peer, bin/orderer, ..., builders/ccaas); see network/README.md"
)


@dataclass
class Backend:
    """A ledger every member writes to; on a log node, each member's own ``ledgers``."""

    name: str
    ledger: Ledger
    ws: Workspace
    ledgers: dict[str, Ledger] | None = None
    workspaces: dict[str, Workspace] | None = None

    def client(self, org_id: str) -> OrgClient:
        if self.ledgers is None or self.workspaces is None:
            return OrgClient(self.ledger, self.ws.signer(org_id))
        return OrgClient(self.ledgers[org_id], self.workspaces[org_id].signer(org_id))

    def close(self) -> None:
        for ledger in (self.ledgers or {"": self.ledger}).values():
            ledger.close()


MEMBERS = ("AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X", "DONOR-Y")


@dataclass
class LogNodeSite:
    """A running log node and each member's own directory for a gateway on it."""

    url: str
    roots: dict[str, Path]
    witnesses: TestWitnesses
    operator: Workspace  # where the consortium (and the node's log key) was made
    node: Path  # the node's own directory
    service: processes.Service

    def config(self, org: str) -> GatewayConfig:
        return GatewayConfig(
            directory=self.roots[org],
            backend="remote",
            log_url=self.url,
            orgs=(org,),
            sync_interval_s=0.5,
        )

    def backend(self) -> Backend:
        workspaces = {org: Workspace.load(root) for org, root in self.roots.items()}
        ledgers: dict[str, Ledger] = {
            org: remote_ledger(ws, self.config(org), org, ws.signer(org))
            for org, ws in workspaces.items()
        }
        return Backend("remote", ledgers["AGENCY-A"], workspaces["AGENCY-A"], ledgers, workspaces)


def cosigned(log: VerifiableLog, consortium: Consortium, timeout: float = 15.0) -> None:
    """Wait until the log node's witness quorum has cosigned all it holds."""
    deadline = time.monotonic() + timeout
    while not _quorum_covers(log, consortium):
        assert time.monotonic() < deadline, "the witnesses did not cosign the node's log"
        time.sleep(0.1)


def _quorum_covers(log: VerifiableLog, consortium: Consortium) -> bool:
    try:
        size, anchor = log.size(), log.anchor()  # a gateway on a node: only once cosigned
        ckpt.open_checkpoint(
            str(anchor.note),
            ckpt.NoteVerifier.from_vkey(consortium.log_vkey),
            consortium.witness_verifiers(),
            consortium.witness_quorum,
            origin=consortium.origin,
        )
    except (ckpt.CheckpointError, ConflictError):
        return False
    return anchor.size >= size


@contextmanager
def running_log_node(base: Path) -> Iterator[LogNodeSite]:
    """A log node on a consortium of its own, in ``base``, with its own two witnesses."""
    operator = Workspace.create(base / "operator", DEMO)
    witnesses = TestWitnesses(operator, base / "witnesses")
    node = base / "node"
    (node / "node").mkdir(parents=True)
    shutil.copy(operator.root / "consortium.json", node / "consortium.json")
    for name in ("log.key", NO_LEDGER_YET.name):  # a key that has signed nothing yet
        shutil.copy(operator.root / "node" / name, node / "node" / name)
    service = processes.start_node(node, processes.free_port())
    site = LogNodeSite(service.url, {}, witnesses, operator, node, service)
    try:
        for org in MEMBERS:
            root = site.roots[org] = base / org
            (root / "node").mkdir(parents=True)
            for name in ("consortium.json", "pseudonym.key"):
                shutil.copy(operator.root / name, root / name)
            shutil.copytree(operator.root / "orgs" / org, root / "orgs" / org)
            shutil.copy(node / "node" / "tls.pem", root / "node" / "tls.pem")
            issue_log_client_certificate(root, org)
        yield site
    finally:
        site.service.stop()  # the one running now: a test may have restarted the node
        witnesses.close()


@pytest.fixture(scope="session")
def log_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogNodeSite]:
    with running_log_node(tmp_path_factory.mktemp("log-node")) as site:
        yield site


@pytest.fixture(scope="session")
def fabric_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not os.environ.get("FABRIC_HOME"):
        pytest.skip(NO_FABRIC)
    existing = os.environ.get("LEDGER_GW_FABRIC_PROFILE")
    if existing:
        yield Path(existing)
        return
    state = tmp_path_factory.mktemp("fabric") / "state"
    env = {
        **os.environ,
        "FABRIC_STATE": str(state),
        "FABRIC_PORT_BASE": os.environ.get("FABRIC_TEST_PORT_BASE", "28000"),
        "PYTHON": sys.executable,
    }
    orderers = os.environ.get("FABRIC_TEST_ORDERERS", "1")
    up = subprocess.run(
        [str(NETWORK_SH), "up", "--orderers", orderers],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if up.returncode != 0:
        pytest.fail(f"network.sh up failed:\n{up.stdout}\n{up.stderr}")
    try:
        yield state / "profile.json"
    finally:
        subprocess.run(
            [str(NETWORK_SH), "down"], env=env, capture_output=True, timeout=120, check=False
        )


VALIDITY_MEMBERS = ("AGENCY-A", "AGENCY-B", "AGENCY-C")


@dataclass
class FabricValidity:
    """The agencies' witness keys, which state what each agency's own peer committed; the
    consortium an auditor pins, listing those keys (quorum two); and a profile whose
    workspace lists them too and which gives the gateway the keys, so the bundles it
    builds carry the statements."""

    homes: dict[str, WitnessHome]
    consortium: Consortium
    profile: Path


@pytest.fixture(scope="session")
def fabric_validity(
    fabric_profile: Path, tmp_path_factory: pytest.TempPathFactory
) -> FabricValidity:
    root = tmp_path_factory.mktemp("fabric-validity")
    homes = {org: WitnessHome.create(root / org, org) for org in VALIDITY_MEMBERS}
    profile = FabricProfile.load(fabric_profile)
    assert profile.workspace is not None
    workspace = root / "workspace"  # the session's own stays as it is
    shutil.copytree(profile.workspace, workspace)
    for n, (org, home) in enumerate(homes.items(), start=1):
        url = f"https://witness.{org.lower()}.invalid"
        add_witness(workspace / "consortium.json", org, home.signer().verifier.vkey, url, min(n, 2))
    data = json.loads(fabric_profile.read_text())
    data["workspace"] = str(workspace)
    data["validity_keys"] = {org: str(home.root / KEY_FILE) for org, home in homes.items()}
    attesting = fabric_profile.with_name("profile-validity.json")  # beside: relative paths hold
    attesting.write_text(json.dumps(data))
    return FabricValidity(homes, Workspace.load(workspace).consortium, attesting)


@pytest.fixture(scope="session")
def embedded_witnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestWitnesses]:
    """AGENCY-A's and AUDITOR-X's witnesses for the embedded consortium (quorum 2)."""
    ws = Workspace.create(tmp_path_factory.mktemp("behaviour") / "ws", DEMO)
    running = TestWitnesses(ws, tmp_path_factory.mktemp("behaviour-witnesses"))
    yield running
    running.close()


@pytest.fixture(scope="session")
def embedded_workspace(embedded_witnesses: TestWitnesses) -> Workspace:
    return embedded_witnesses.workspace


def _embedded(ws: Workspace, path: Path) -> Backend:
    url = f"sqlite:///{path / 'ledger.db'}"
    return Backend("embedded", EmbeddedLedger(url, ws.consortium, ws.log_signer()), ws)


@pytest.fixture(params=["embedded", "fabric", "remote"])
def backend(
    request: pytest.FixtureRequest, embedded_workspace: Workspace, tmp_path: Path
) -> Iterator[Backend]:
    make: Callable[[], Backend]
    if request.param == "embedded":

        def make() -> Backend:
            return _embedded(embedded_workspace, tmp_path)

    elif request.param == "remote":
        make = request.getfixturevalue("log_node").backend
    else:
        profile: Path = request.getfixturevalue("fabric_profile")

        def make() -> Backend:
            from ledger_gw.bootstrap import fabric_ledger

            ledger, ws = fabric_ledger(profile)
            return Backend("fabric", ledger, ws)

    b = make()
    try:
        yield b
    finally:
        b.close()


def gateway_config(
    request: pytest.FixtureRequest, tmp_path: Path, orgs: tuple[str, ...]
) -> GatewayConfig:
    """A gateway on the backend ``request.param`` names, serving ``orgs`` with its own
    off-chain databases in ``tmp_path``: a fresh embedded ledger (new to the session's
    witnesses), or the session's Fabric network, whose agencies attest validity."""
    offchain = f"sqlite:///{tmp_path}/offchain-{{org}}.db"
    if request.param == "embedded":
        request.getfixturevalue("embedded_witnesses").forget()
        workspace: Workspace = request.getfixturevalue("embedded_workspace")
        return GatewayConfig(
            directory=workspace.root,
            ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
            offchain_url=offchain,
            orgs=orgs,
        )
    profile: Path = request.getfixturevalue("fabric_validity").profile
    fabric_workspace = FabricProfile.load(profile).workspace
    assert fabric_workspace is not None
    return GatewayConfig(
        directory=Path(fabric_workspace),
        backend="fabric",
        fabric_profile=profile,
        offchain_url=offchain,
        orgs=orgs,
    )
