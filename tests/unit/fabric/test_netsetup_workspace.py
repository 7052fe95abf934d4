"""The Fabric network's ledger workspace: identities issued by the MSPs' own CAs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from ledger_gw.consortium import Definition
from ledger_gw.fabric.netsetup import make_cc_tls, make_workspace, org_dir, write_connection
from ledger_gw.identity import cert_pem, issue_ca, key_pem
from ledger_gw.workspace import Workspace
from tests.support.disk import umask

NETWORK = Definition.load(Path(__file__).parents[3] / "network" / "consortium.toml")


def test_workspace_identities_come_from_the_msp_cas(tmp_path: Path) -> None:
    crypto = tmp_path / "crypto"
    ca_certs: dict[str, x509.Certificate] = {}
    for org_id, _ in NETWORK.members:  # the layout cryptogen writes
        ca_key, ca_cert = issue_ca(org_id)
        d = org_dir(crypto, org_id) / "ca"
        d.mkdir(parents=True)
        (d / f"ca.{org_id.lower()}-cert.pem").write_text(cert_pem(ca_cert))
        (d / "priv_sk").write_bytes(key_pem(ca_key))
        ca_certs[org_id] = ca_cert

    make_workspace(crypto, tmp_path / "ws", NETWORK)

    ws = Workspace.load(tmp_path / "ws")
    assert ws.consortium.name == "fabric"
    for org_id, role in NETWORK.members:
        assert ws.consortium.organisation(org_id).ca_cert == ca_certs[org_id]
        cert = x509.load_pem_x509_certificate(ws.signer(org_id).cert_pem.encode())
        cert.verify_directly_issued_by(ca_certs[org_id])
        name = cert.subject
        assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
            f"gateway.{org_id.lower()}.ledger.local"
        )
        assert name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == role
        assert not (tmp_path / "ws" / "orgs" / org_id / "ca.key").exists()  # the MSP's own


def test_the_chaincode_connection_holding_a_tls_key_is_owner_only(tmp_path: Path) -> None:
    """connection.json carries the peer's client key to the chaincode server: 0600 as
    client.key itself, whatever the umask."""
    tlsca = org_dir(tmp_path / "crypto", "AGENCY-A") / "tlsca"
    tlsca.mkdir(parents=True)
    ca_key, ca_cert = issue_ca("AGENCY-A")
    (tlsca / "tlsca.agency-a-cert.pem").write_text(cert_pem(ca_cert))
    (tlsca / "priv_sk").write_bytes(key_pem(ca_key))
    with umask(0o022):
        make_cc_tls(tmp_path / "crypto", "AGENCY-A", tmp_path / "tls")
        write_connection(tmp_path / "tls", "cc.agency-a:9999", tmp_path / "connection.json")
    connection = tmp_path / "connection.json"
    assert "PRIVATE KEY" in json.loads(connection.read_text())["client_key"]
    for path in (connection, tmp_path / "tls" / "client.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
