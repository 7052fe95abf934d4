"""Helpers `network/network.sh` calls: material cryptogen cannot make, and the profile.

    python -m ledger_gw.fabric.netsetup roles CRYPTO DEF          NodeOUs: client OU = role
    python -m ledger_gw.fabric.netsetup workspace CRYPTO DEF OUT  ledger workspace (signers)
    python -m ledger_gw.fabric.netsetup cc-tls CRYPTO ORG OUT   chaincode server/peer TLS pair
    python -m ledger_gw.fabric.netsetup witnesses CRYPTO WS ... each member's witness key
    python -m ledger_gw.fabric.netsetup profile STATE ...       profile.json for the gateway

Organisations are named by MSP ID (AGENCY-A ...). Each organisation's MSP classifies a
certificate whose OU is its role (agency, auditor, donor) as a *client*, so the same
certificate (O = organisation, OU = role) is valid for Fabric and for the contract.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ledger_gw.consortium import Definition, add_witness
from ledger_gw.identity import key_pem
from ledger_gw.witness.home import KEY_FILE, WitnessHome
from ledger_gw.workspace import Workspace, _write_secret

DOMAIN = "ledger.local"


def org_domain(org_id: str) -> str:
    return f"{org_id.lower()}.{DOMAIN}"


def org_dir(crypto: Path, org_id: str) -> Path:
    return crypto / "peerOrganizations" / org_domain(org_id)


def fabric_ca_key(workspace: Path, org_id: str) -> Path:
    """Where network.sh keeps ``org_id``'s MSP CA key: its own organisation's directory
    in the crypto material beside the workspace (each member's, never another's)."""
    return org_dir(workspace.parent / "crypto", org_id) / "ca" / "priv_sk"


def _load_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert = x509.load_pem_x509_certificate(next(directory.glob("*-cert.pem")).read_bytes())
    key = serialization.load_pem_private_key((directory / "priv_sk").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, cert


def set_client_roles(crypto: Path, definition: Definition) -> None:
    """Rewrite every NodeOUs config.yaml: a client of an agency is a cert with OU=agency."""
    for org_id, role in definition.members:
        for config in org_dir(crypto, org_id).rglob("config.yaml"):
            text = config.read_text()
            text = re.sub(
                r"(ClientOUIdentifier:\s*\n\s*Certificate: [^\n]*\n"
                r"\s*OrganizationalUnitIdentifier: )client",
                rf"\g<1>{role}",
                text,
            )
            config.write_text(text)


def make_workspace(crypto: Path, out: Path, definition: Definition) -> None:
    """A ledger workspace whose organisations' CAs are the Fabric MSPs' CAs."""
    cas = {org_id: _load_ca(org_dir(crypto, org_id) / "ca") for org_id, _ in definition.members}
    Workspace.create(out, definition, cas=cas, domain=org_domain)


def witness_key(crypto: Path, org_id: str) -> Path:
    """Where ``org_id`` keeps the key it signs validity statements with: in its own
    organisation's directory, beside its MSP, never in the shared workspace."""
    return org_dir(crypto, org_id) / "witness" / KEY_FILE


def make_witnesses(crypto: Path, workspace: Path, members: Sequence[str], quorum: int) -> None:
    """A witness key for each of ``members`` (``ORG=URL``: where its gateway answers for
    its statements), listed with the quorum in the workspace's consortium file."""
    for n, spec in enumerate(members, start=1):
        org_id, url = spec.split("=", 1)
        home = WitnessHome.create(witness_key(crypto, org_id).parent, org_id)
        vkey = home.signer().verifier.vkey
        add_witness(workspace / "consortium.json", org_id, vkey, url, min(n, quorum))


def _tls_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    usage: x509.ObjectIdentifier,
) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca_cert.not_valid_before_utc)
        .not_valid_after(min(ca_cert.not_valid_after_utc, now + dt.timedelta(days=365)))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(common_name),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)


def make_cc_tls(crypto: Path, org_id: str, out: Path) -> None:
    """TLS for the organisation's chaincode server and the client pair its peer dials with."""
    ca_key, ca_cert = _load_ca(org_dir(crypto, org_id) / "tlsca")
    out.mkdir(parents=True, exist_ok=True)
    server = _tls_cert(ca_key, ca_cert, f"cc.{org_domain(org_id)}", ExtendedKeyUsageOID.SERVER_AUTH)
    client = _tls_cert(
        ca_key, ca_cert, f"peer0.{org_domain(org_id)}", ExtendedKeyUsageOID.CLIENT_AUTH
    )
    (out / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (out / "server.pem").write_bytes(server[0])
    _write_secret(out / "server.key", server[1])
    (out / "client.pem").write_bytes(client[0])
    _write_secret(out / "client.key", client[1])


def write_connection(tls_dir: Path, address: str, out: Path) -> None:
    """connection.json of a CCaaS package: the peer dials `address` with mutual TLS."""
    data = {
        "address": address,
        "dial_timeout": "10s",
        "tls_required": True,
        "client_auth_required": True,
        "client_key": (tls_dir / "client.key").read_text(),
        "client_cert": (tls_dir / "client.pem").read_text(),
        "root_cert": (tls_dir / "ca.pem").read_text(),
    }
    _write_secret(out, json.dumps(data, indent=2).encode())  # it holds the client's key


def write_profile(
    state: Path,
    channel: str,
    chaincode: str,
    peers: Sequence[str],
    policy: str | None = None,
    *,
    attesting: Sequence[str] = (),
    statements: Sequence[str] = (),
    default_peer: str | None = None,
    name: str = "profile.json",
) -> None:
    """profile.json: each ORG=host:port peer, its TLS CA (relative paths), the workspace,
    the endorsement policy the chaincode was committed with (``N:ORG,ORG,...``), the
    members whose witness keys this gateway holds (``attesting``) and where the others'
    gateways answer for their statements (``statements``, ``ORG=URL``)."""
    entries = {}
    for spec in peers:
        org_id, address = spec.split("=", 1)
        tlsca = org_dir(state / "crypto", org_id) / "tlsca"
        entries[org_id] = {
            "address": address,
            "tls_root_cert": str(next(tlsca.glob("*-cert.pem")).relative_to(state)),
        }
    profile: dict[str, object] = {
        "channel": channel,
        "chaincode": chaincode,
        "peers": entries,
        "default_peer": default_peer or next(iter(entries)),
        "workspace": "workspace",
    }
    if attesting:
        profile["validity_keys"] = {
            org_id: str(witness_key(state / "crypto", org_id).relative_to(state))
            for org_id in attesting
        }
    if statements:
        profile["validity_urls"] = dict(spec.split("=", 1) for spec in statements)
    if policy:
        required, among = policy.split(":", 1)
        profile["endorsement_policy"] = {"required": int(required), "among": among.split(",")}
    (state / name).write_text(json.dumps(profile, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netsetup")
    sub = parser.add_subparsers(dest="cmd", required=True)
    roles = sub.add_parser("roles")
    roles.add_argument("crypto", type=Path)
    roles.add_argument("definition", type=Path, help="the consortium definition (JSON)")
    ws = sub.add_parser("workspace")
    ws.add_argument("crypto", type=Path)
    ws.add_argument("definition", type=Path, help="the consortium definition (JSON)")
    ws.add_argument("out", type=Path)
    cc = sub.add_parser("cc-tls")
    cc.add_argument("crypto", type=Path)
    cc.add_argument("org")
    cc.add_argument("out", type=Path)
    conn = sub.add_parser("connection")
    conn.add_argument("tls_dir", type=Path)
    conn.add_argument("address")
    conn.add_argument("out", type=Path)
    wit = sub.add_parser("witnesses")
    wit.add_argument("crypto", type=Path)
    wit.add_argument("workspace", type=Path)
    wit.add_argument("--quorum", type=int, required=True)
    wit.add_argument("members", nargs="+", help="ORG=URL of its gateway")
    prof = sub.add_parser("profile")
    prof.add_argument("state", type=Path)
    prof.add_argument("--channel", required=True)
    prof.add_argument("--chaincode", required=True)
    prof.add_argument("--policy", help="N:ORG,ORG,...: any N of these must endorse")
    prof.add_argument("--attest", action="append", default=[], help="ORG whose key it holds")
    prof.add_argument("--statement", action="append", default=[], help="ORG=URL of its gateway")
    prof.add_argument("--default-peer")
    prof.add_argument("--name", default="profile.json")
    prof.add_argument("peers", nargs="+", help="ORG=host:port")
    args = parser.parse_args(argv)
    if args.cmd == "roles":
        set_client_roles(args.crypto, Definition.load(args.definition))
    elif args.cmd == "workspace":
        make_workspace(args.crypto, args.out, Definition.load(args.definition))
    elif args.cmd == "cc-tls":
        make_cc_tls(args.crypto, args.org, args.out)
    elif args.cmd == "connection":
        write_connection(args.tls_dir, args.address, args.out)
    elif args.cmd == "witnesses":
        make_witnesses(args.crypto, args.workspace, args.members, args.quorum)
    else:
        write_profile(
            args.state,
            args.channel,
            args.chaincode,
            args.peers,
            args.policy,
            attesting=args.attest,
            statements=args.statement,
            default_peer=args.default_peer,
            name=args.name,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
