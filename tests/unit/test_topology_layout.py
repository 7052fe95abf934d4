"""`ledger-gw consortium prepare`: each party's directory holds its own keys only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_gw.consortium import Consortium
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.identity import cert_pem, issue_member, key_pem, load_signing_key
from ledger_gw.topology import _prepared, prepare, running
from ledger_gw.topology.layout import discard, lay_out
from ledger_gw.witness import WitnessHome
from ledger_gw.workspace import Workspace
from tests.support.cli import clean_failure, run_cli
from tests.support.disk import umask

AGENCIES = ("AGENCY-A", "AGENCY-B")
WITNESSES = {"AGENCY-A": "http://w-a:8070", "AUDITOR-X": "http://w-x:8070"}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    base = tmp_path_factory.mktemp("layout")
    ws = Workspace.create(base / "operator", DEMO)
    prepare(ws.root, base / "site", AGENCIES, list(WITNESSES), WITNESSES, ["node.example"])
    return ws, base / "site"


def _secrets(root: Path) -> dict[bytes, Path]:
    return {p.read_bytes(): p for p in root.rglob("*.key")}


def test_no_party_holds_another_partys_key(made: tuple[Workspace, Path]) -> None:
    ws, site = made
    parties = [p for p in site.iterdir() if p.is_dir()]
    assert sorted(p.name for p in parties) == [
        "AGENCY-A", "AGENCY-B", "node", "witness-AGENCY-A", "witness-AUDITOR-X",
    ]  # fmt: skip
    pseudonym = (ws.root / "pseudonym.key").read_bytes()  # the consortium's, shared
    held = {p.name: set(_secrets(p)) - {pseudonym} for p in parties}
    for name, keys in held.items():
        assert keys, name
        for other, theirs in held.items():
            assert other == name or not keys & theirs, f"{name} holds a key of {other}"
    for org in AGENCIES:
        assert [p.name for p in (site / org / "orgs").iterdir()] == [org]
    assert not (site / "node" / "orgs").exists()
    assert (ws.root / "node" / "log.key").read_bytes() in _secrets(site / "node")
    for org in WITNESSES:
        assert [p.name for p in (site / f"witness-{org}").rglob("*.key")] == ["witness.key"]


def test_every_party_gets_the_consortium_file_with_the_witnesses(
    made: tuple[Workspace, Path],
) -> None:
    ws, site = made
    listed = Consortium.load(ws.root / "consortium.json")
    assert {o: u for o, (u, _) in listed.witness_urls().items()} == WITNESSES
    assert listed.witness_quorum == len(WITNESSES)
    for party in filter(Path.is_dir, site.iterdir()):
        assert (party / "consortium.json").read_bytes() == (
            ws.root / "consortium.json"
        ).read_bytes()
    pinned = (site / "node" / "node" / "tls.pem").read_bytes()
    for org in AGENCIES:
        assert (site / org / "node" / "tls.pem").read_bytes() == pinned
        assert (site / org / "orgs" / org / "tls-client.pem").exists()


def test_a_gateway_only_for_an_agency_that_is_a_member(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "operator", DEMO)
    with pytest.raises(ConfigError, match="not an agency"):
        lay_out(ws.root, tmp_path / "a", ["AUDITOR-X"], [], {})
    with pytest.raises(ConfigError):
        lay_out(ws.root, tmp_path / "b", ["AGENCY-Z"], [], {})
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()


def test_a_site_laid_out_before_gets_client_certificates_the_node_lets_in(tmp_path: Path) -> None:
    """A site kept from before client certificates were marked for TLS: each start of
    `consortium up` issues its gateways' client certificates afresh."""
    ws = Workspace.create(tmp_path / "operator", DEMO)
    site = tmp_path / "site"
    prepare(ws.root, site, AGENCIES, list(WITNESSES), WITNESSES)
    org = ws.consortium.organisation("AGENCY-A")
    org_dir = site / "AGENCY-A" / "orgs" / "AGENCY-A"
    key, unmarked = issue_member(
        load_signing_key(org_dir / "ca.key"), org.ca_cert, "AGENCY-A", org.role, "tls.agency-a"
    )
    (org_dir / "tls-client.pem").write_text(cert_pem(unmarked))
    (org_dir / "tls-client.key").write_bytes(key_pem(key))
    auth, now = ws.consortium.authenticator(), dt.datetime.now(dt.UTC)
    with pytest.raises(AuthenticationError, match="not a TLS client certificate"):
        auth.transport_peer((org_dir / "tls-client.pem").read_text(), now)

    _prepared(ws.root, site, AGENCIES, list(WITNESSES))
    for agency in AGENCIES:
        pem = (site / agency / "orgs" / agency / "tls-client.pem").read_text()
        assert auth.transport_peer(pem, now).org_id == agency


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask of 000, under which a file made with the default mode is anyone's to write."""
    with umask(0):
        yield


def _writable_by_others(root: Path) -> list[str]:
    return [str(p) for p in [root, *root.rglob("*")] if p.stat().st_mode & 0o022]


@pytest.mark.usefixtures("open_umask")
def test_no_one_else_may_write_a_sites_directories_or_files(tmp_path: Path) -> None:
    """Whoever may write a party's directory swaps its keys, the node certificate its
    gateways pin, or a witness's memory."""
    ws = Workspace.create(tmp_path / "operator", DEMO)
    site = tmp_path / "deep" / "site"
    prepare(ws.root, site, AGENCIES, list(WITNESSES), WITNESSES)
    assert _writable_by_others(tmp_path / "deep") == []
    secrets = [p for p in site.rglob("*") if p.suffix in (".key", ".db")]
    assert {p.name for p in secrets} >= {"log.key", "pseudonym.key", "witness.key", "witness.db"}
    assert {
        str(p): oct(p.stat().st_mode & 0o777) for p in secrets if p.stat().st_mode & 0o077
    } == {}


@pytest.mark.usefixtures("open_umask")
def test_witness_init_makes_no_directory_others_may_write(tmp_path: Path) -> None:
    home = WitnessHome.create(tmp_path / "a" / "b", "AGENCY-A").root
    assert _writable_by_others(tmp_path / "a") == []
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in home.iterdir()} == {
        "witness.key": oct(0o600),
        "witness.db": oct(0o600),
    }


def test_a_site_that_fails_to_be_prepared_leaves_nothing_and_can_be_prepared_again(
    tmp_path: Path,
) -> None:
    """A witness URL the command line lets through but the consortium file refuses:
    before, the witness's key stayed behind and every rerun was refused."""
    operator, site = tmp_path / "operator", tmp_path / "site"
    args = ("consortium", "prepare", "--dir", str(operator), "--site", str(site))
    failed = run_cli(*args, "--witness", "AGENCY-A=http://[x")
    assert "must be an http(s) base URL" in clean_failure(failed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["operator"]  # no site, no draft
    assert Consortium.load(operator / "consortium.json").witness_urls() == {}

    done = run_cli(*args, "--witness", "AGENCY-A=http://127.0.0.1:8070")
    assert done.returncode == 0, done.stderr
    assert (site / "witness-AGENCY-A" / "witness.key").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["operator", "site"]


def test_a_step_after_the_witness_keys_that_fails_leaves_nothing(tmp_path: Path) -> None:
    """The node's TLS certificate, made after the witnesses' keys, for a name it cannot
    hold: no site, and the operator's consortium file lists no witness key now gone."""
    ws = Workspace.create(tmp_path / "operator", DEMO)
    before = (ws.root / "consortium.json").read_bytes()
    site = tmp_path / "site"
    with pytest.raises(ValueError, match="A-label"):
        prepare(ws.root, site, AGENCIES, list(WITNESSES), WITNESSES, ["é.example"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["operator"]
    assert (ws.root / "consortium.json").read_bytes() == before


def test_fresh_deletes_a_site_it_laid_out_and_refuses_any_other_directory(
    tmp_path: Path,
) -> None:
    ws = Workspace.create(tmp_path / "operator", DEMO)
    site = tmp_path / "site"
    lay_out(ws.root, site, AGENCIES, [], {})
    discard(site)
    assert not site.exists()
    discard(site)  # nothing there: nothing to do

    precious = tmp_path / "precious"
    (precious / "node").mkdir(parents=True)
    (precious / "node" / "consortium.json").write_text("{}")  # looks like a site
    with pytest.raises(ConfigError, match="not deleting it") as refused:
        discard(precious)
    assert refused.value.code == "not_a_prepared_site"
    with (
        pytest.raises(ConfigError, match="not deleting it"),
        running(ws.root, precious, AGENCIES, [], fresh=True),
    ):
        pass
    assert (precious / "node" / "consortium.json").read_text() == "{}"
