"""`ledger-gw log revoke-client` and `ledger-gw token issue|list|revoke`, as an operator
runs them on one party's own directory: each writes only where its effect is read (the
node's list, the organisation's own store), and needs nothing else running."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_gw.offchain.store import OffchainStore
from ledger_gw.services.access import authenticate, list_tokens
from tests.support.cli import clean_failure, run_cli
from tests.support.disk import umask

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The node's directory and AGENCY-A's, each as it would stand on its own machine."""
    base = tmp_path_factory.mktemp("site")
    done = run_cli(
        *("consortium", "prepare", "--dir", str(base / "all"), "--site", str(base / "site")),
        *("--agency", "AGENCY-A"),
    )
    assert done.returncode == 0, done.stderr
    return base / "site"


@pytest.fixture
def no_umask() -> Iterator[None]:
    with umask(0):
        yield


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_revocation_is_refused_where_no_node_reads_it(site: Path, tmp_path: Path) -> None:
    pem = site / "AGENCY-A" / "orgs" / "AGENCY-A" / "tls-client.pem"
    nowhere = tmp_path / "nonexist2"
    assert "holds no consortium" in clean_failure(
        run_cli("log", "revoke-client", "--dir", str(nowhere), str(pem))
    )
    assert not nowhere.exists()
    agency = site / "AGENCY-A"  # a consortium file and node/tls.pem, no log key
    line = clean_failure(run_cli("log", "revoke-client", "--dir", str(agency), str(pem)))
    assert "not a log node's directory" in line
    assert "node/log.key" in line
    assert not (agency / "node" / "revoked-clients").exists()


@pytest.mark.usefixtures("no_umask")
def test_the_nodes_list_is_its_owners_alone_and_names_a_certificate_once(site: Path) -> None:
    pem = site / "AGENCY-A" / "orgs" / "AGENCY-A" / "tls-client.pem"
    node = site / "node"
    first = run_cli("log", "revoke-client", "--dir", str(node), str(pem))
    assert first.returncode == 0, first.stderr
    listed = node / "node" / "revoked-clients"
    assert _mode(listed) == 0o644
    once = listed.read_text()
    again = run_cli("log", "revoke-client", "--dir", str(node), str(pem))
    assert again.returncode == 0, again.stderr
    assert "already revoked" in again.stdout
    assert listed.read_text() == once
    assert len(once.splitlines()) == 1


def _unreachable() -> str:
    """A log node URL on which nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("orgs", [None, "AGENCY-A"])
def test_tokens_are_managed_while_the_log_node_is_down(
    site: Path, monkeypatch: pytest.MonkeyPatch, orgs: str | None
) -> None:
    """A stolen token is revoked whether or not the node answers; the command opens
    AGENCY-A's store alone (no ledger, no other member's store or key), whether or not
    LEDGER_GW_ORGS names it."""
    agency = site / "AGENCY-A"
    monkeypatch.setenv("LEDGER_GW_BACKEND", "remote")
    monkeypatch.setenv("LEDGER_GW_LOG_URL", _unreachable())
    if orgs is None:
        monkeypatch.delenv("LEDGER_GW_ORGS", raising=False)
    else:
        monkeypatch.setenv("LEDGER_GW_ORGS", orgs)
    at = ("--dir", str(agency), "--org", "AGENCY-A")
    issued = run_cli("token", "issue", *at, "--role", "agency-writer")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    token_id = token.split(".")[2]
    store = OffchainStore("AGENCY-A", f"sqlite:///{agency}/offchain-AGENCY-A.db")
    try:
        assert authenticate(store, token).token_id == token_id
        listed = run_cli("token", "list", *at)
        assert listed.returncode == 0, listed.stderr
        assert token_id in listed.stdout
        revoked = run_cli("token", "revoke", *at, token_id)
        assert revoked.returncode == 0, revoked.stderr
        (held,) = [t for t in list_tokens(store) if t.token_id == token_id]
        assert held.revoked_at is not None  # authenticate above cached it as valid a while
    finally:
        store.close()
    made = {p.name for p in agency.iterdir()} - {"consortium.json", "node", "orgs"}
    assert {name for name in made if name.endswith(".db")} == {"offchain-AGENCY-A.db"}


def test_a_token_opens_no_ledger_and_no_other_members_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "ws"
    assert run_cli("init", str(directory)).returncode == 0
    for name in ("LEDGER_GW_BACKEND", "LEDGER_GW_ORGS", "LEDGER_GW_LEDGER_URL"):
        monkeypatch.delenv(name, raising=False)
    issued = run_cli(
        "token", "issue", "--dir", str(directory), "--org", "AGENCY-A", "--role", "agency-reader"
    )
    assert issued.returncode == 0, issued.stderr
    assert sorted(p.name for p in directory.glob("*.db")) == ["offchain-AGENCY-A.db"]


@pytest.mark.parametrize("party", ["node", "AGENCY-A"])
def test_a_token_for_an_organisation_the_directory_does_not_hold_makes_nothing_there(
    site: Path, party: str
) -> None:
    """The node's directory, or another agency's, given by mistake: no store, no record."""
    directory = site / party
    before = sorted(p.relative_to(directory) for p in directory.rglob("*"))
    refused = run_cli(
        "token", "issue", "--dir", str(directory), "--org", "AGENCY-B", "--role", "agency-reader"
    )
    assert clean_failure(refused).startswith(
        f"error org_not_served: {directory} holds no orgs/AGENCY-B/"
    )
    assert sorted(p.relative_to(directory) for p in directory.rglob("*")) == before
