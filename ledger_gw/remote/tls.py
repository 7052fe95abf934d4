"""The TLS identities between a log node and the agencies' gateways.

A gateway's client certificate is issued by its organisation's CA, the one the
consortium file lists (O = organisation, OU = role, as a signing certificate), so the
node knows who is calling from the handshake alone, never from a claim in a request.
It is marked for TLS client authentication, which no signing certificate is: each key
does one job.
The node's server certificate is its own, self-signed: each gateway pins it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledger_gw.consortium import Consortium
from ledger_gw.errors import ConfigError
from ledger_gw.files import PUBLIC, SECRET, read_secret, write_file
from ledger_gw.identity import cert_pem, issue_member, key_pem, load_signing_key
from ledger_gw.identity import load_certificate as load_pem

_YEARS = 5


def issue_client_certificate(org_dir: Path, consortium: Consortium, org_id: str) -> Path:
    """``tls-client.pem``/``.key`` in an organisation's directory, issued by its CA key
    (``ca.key`` there); the certificate's path."""
    org = consortium.organisation(org_id)
    ca_key = load_signing_key(org_dir / "ca.key")
    ca_cert = load_pem((org_dir / "ca.pem").read_text())
    if ca_cert != org.ca_cert:
        raise ConfigError(f"{org_dir}/ca.pem is not the CA the consortium lists for {org_id}")
    key, cert = issue_member(
        ca_key, ca_cert, org_id, org.role, f"tls.{org_id.lower()}", tls_client=True
    )
    write_file(org_dir / "tls-client.key", key_pem(key), SECRET)
    write_file(org_dir / "tls-client.pem", cert_pem(cert).encode(), PUBLIC)
    return org_dir / "tls-client.pem"


def ensure_server_certificate(cert_path: Path, key_path: Path, hosts: list[str]) -> None:
    """A self-signed server certificate for ``hosts`` (names or IP addresses), unless
    one is there already (its key its owner's only)."""
    if cert_path.exists() and key_path.exists():
        read_secret(key_path, "TLS key")
        return
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"log node {socket.gethostname()}")])
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * _YEARS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_file(key_path, key_pem(key), SECRET)
    write_file(cert_path, cert_pem(cert).encode(), PUBLIC)


def write_client_cas(consortium: Consortium, path: Path) -> Path:
    """Every member's CA in one PEM file: what the node's TLS accepts client certificates
    from (which member it is, the node then reads from the certificate)."""
    write_file(
        path,
        "".join(cert_pem(o.ca_cert) for o in consortium.organisations.values()).encode(),
        PUBLIC,
    )
    return path


class _ClientContext(ssl.SSLContext):
    """Closes the TLS socket it was making when making it fails.

    Python before 3.11.8 leaves that socket open when the node resets the connection
    between the TCP and TLS handshakes (a node stopping, or one that refuses): the new
    socket already owns the descriptor, and urllib3 keeps the error in a reference cycle,
    so a gateway held the descriptor until a garbage collection came round."""

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        try:
            return super().wrap_socket(*args, **kwargs)
        except BaseException as exc:
            _close_sockets(exc.__traceback__)
            raise


def _close_sockets(tb: TracebackType | None) -> None:
    """Every TLS socket the frames of a failed wrap still hold (closing one twice is a
    no-op)."""
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, ssl.SSLSocket):
                value.close()
        tb = tb.tb_next


def client_context(node_cert: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """A gateway's TLS: trusts only the pinned node certificate, presents its own."""
    for path in (node_cert, cert, key):
        if not path.exists():
            raise ConfigError(f"missing {path}")
    read_secret(key, "TLS key")  # its owner's only
    context = _ClientContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and host
    context.load_verify_locations(cafile=str(node_cert))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context
