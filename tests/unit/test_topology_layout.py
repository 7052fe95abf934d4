"""`ledger-gw consortium prepare`: each party's directory holds its own keys only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ledger_gw.consortium import Consortium
from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.identity import cert_pem, issue_member, key_pem, load_signing_key
from ledger_gw.topology import _prepared, prepare
from ledger_gw.topology.layout import lay_out
from ledger_gw.workspace import Workspace

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
    for party in site.iterdir():
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
