"""Databases that hold personal data, and the ledger, are readable by their owner only."""

from __future__ import annotations

import ssl
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import ConfigError
from ledger_gw.identity import load_signing_key
from ledger_gw.offchain.store import OffchainStore
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.outbox import Outbox
from ledger_gw.remote.receipts import Receipts
from ledger_gw.remote.tls import client_context, ensure_server_certificate, issue_client_certificate
from ledger_gw.services import events, registrations
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.config import GatewayConfig
from ledger_gw.transaction import sign_proposal
from ledger_gw.witness.home import WitnessHome
from ledger_gw.workspace import Workspace
from tests.support.disk import umask
from tests.support.events import PID, entitlement_granted

FATIMA = {"given_name": "Fatima", "family_name": "Al-Hassan", "date_of_birth": "1991-03-14"}


@pytest.fixture
def world_readable_umask() -> Iterator[None]:
    """The usual umask, under which a file made with the default mode is 0644."""
    with umask(0o022):
        yield


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("world_readable_umask")
def test_offchain_and_ledger_files_are_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.create(root, DEMO)
    data = tmp_path / "data"
    data.mkdir()
    config = GatewayConfig(
        directory=root,
        ledger_url=f"sqlite:///{data / 'ledger.db'}",
        offchain_url=f"sqlite:///{data}/offchain-{{org}}.db",
    )
    gateway = open_gateway(config)
    try:
        caller = Caller("t", "AGENCY-A", Role.AGENCY_WRITER)
        registrations.register(gateway, caller, FATIMA)
        events.submit(gateway, caller, entitlement_granted(PID))
        names = sorted(p.name for p in data.iterdir())
        for expected in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
            assert expected in names
        for expected in ("offchain-AGENCY-A.db", "offchain-AGENCY-A.db-wal"):
            assert expected in names
        modes = {name: oct(_mode(data / name)) for name in names}
        assert set(modes.values()) == {oct(0o600)}, modes
    finally:
        gateway.close()


@pytest.mark.usefixtures("world_readable_umask")
def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    OffchainStore("AGENCY-A", f"sqlite:///{path}").migrate()
    assert _mode(path) == 0o640


@pytest.mark.usefixtures("world_readable_umask")
def test_a_gateways_outbox_and_receipts_are_owner_only(tmp_path: Path) -> None:
    """The outbox holds the agency's signed transactions, which a log node shows to that
    agency alone; the receipts, what the node acknowledged."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    outbox = Outbox(tmp_path / "state" / "outbox.db", ws.signer("AGENCY-A"))
    outbox.capture([sign_proposal(ws.signer("AGENCY-A"), "submit", [entitlement_granted(PID)])])
    node = NodeClient("https://127.0.0.1:9", ssl.create_default_context())  # never called
    Receipts(tmp_path / "state" / "receipts.db", ws.consortium, node)
    modes = {p.name: oct(_mode(p)) for p in (tmp_path / "state").glob("*.db*")}
    assert {"outbox.db", "receipts.db"} <= set(modes)
    assert set(modes.values()) == {oct(0o600)}, modes


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask of 000, under which a file made with the default mode is anyone's to write."""
    with umask(0):
        yield


@pytest.mark.usefixtures("open_umask")
def test_no_one_else_may_write_a_consortiums_directory(tmp_path: Path) -> None:
    """Whoever may write the consortium file changes the trust root (a member added,
    the quorum dropped); whoever may write a directory of keys swaps a key in it."""
    root = tmp_path / "ws"
    ws = Workspace.create(root, DEMO)
    ws.consortium.save(root / "consortium.json")
    everything = [root, *root.rglob("*")]
    writable = [str(p) for p in everything if _mode(p) & 0o022]
    assert writable == []
    secrets = [p for p in everything if p.suffix == ".key"]
    assert secrets
    assert {p.name: oct(_mode(p)) for p in secrets if _mode(p) != 0o600} == {}


@pytest.mark.usefixtures("world_readable_umask")
def test_a_key_issued_over_a_loosened_file_is_owner_only(tmp_path: Path) -> None:
    """A copy or a restore may have left an old key file readable by all: the new key
    written over it must not inherit that."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    org_dir = ws.root / "orgs" / "AGENCY-A"
    key = org_dir / "tls-client.key"
    key.write_bytes(b"an old key")
    key.chmod(0o644)
    issue_client_certificate(org_dir, ws.consortium, "AGENCY-A")
    assert key.read_bytes() != b"an old key"
    assert _mode(key) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620], ids=oct)
def test_a_private_key_others_may_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    """Each private key is read only while it is its owner's alone, as ssh reads one: a
    key others could read may have been copied, one they could write swapped. The
    refusal names the file and the fix, and nothing is signed with the key meanwhile."""
    ws = Workspace.create(tmp_path / "ws", DEMO)
    org_dir = ws.root / "orgs" / "AGENCY-A"
    issue_client_certificate(org_dir, ws.consortium, "AGENCY-A")
    witness = WitnessHome.create(tmp_path / "witness", "AGENCY-A")
    node = ws.root / "node"
    ensure_server_certificate(node / "tls.pem", node / "tls.key", ["127.0.0.1"])
    loads: dict[Path, Callable[[], object]] = {
        org_dir / "signer.key": lambda: ws.signer("AGENCY-A"),
        org_dir / "ca.key": lambda: load_signing_key(org_dir / "ca.key"),
        org_dir / "handover.key": lambda: ws.handover_key("AGENCY-A"),
        org_dir / "tls-client.key": lambda: client_context(
            node / "tls.pem", org_dir / "tls-client.pem", org_dir / "tls-client.key"
        ),
        node / "log.key": ws.log_signer,
        node / "tls.key": lambda: ensure_server_certificate(
            node / "tls.pem", node / "tls.key", ["127.0.0.1"]
        ),
        ws.root / "pseudonym.key": ws.pseudonym_key,
        witness.root / "witness.key": witness.signer,
    }
    for key, load in loads.items():
        assert _mode(key) == 0o600
        load()  # the owner's only: read
        key.chmod(mode)
        with pytest.raises(ConfigError, match=rf"{key.name} is open to group or others") as e:
            load()
        assert e.value.code == "key_not_private"
        assert f"chmod 600 {key}" in str(e.value)
        key.chmod(0o600)
