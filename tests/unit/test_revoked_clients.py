"""The log node's list of revoked TLS client certificates: read again whenever it
changes, and a list that does not read refuses every client rather than none."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.identity import cert_pem, issue_ca, issue_member
from ledger_gw.node.revoked import RevokedClients, revocation_key, revoke
from tests.support.certificates import with_twin_signature

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def _certificate() -> x509.Certificate:
    ca_key, ca_cert = issue_ca("AGENCY-A")
    _, cert = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", "tls", tls_client=True)
    return cert


def test_a_revoked_certificate_is_refused_once_listed_and_no_other(tmp_path: Path) -> None:
    path = tmp_path / "node" / "revoked-clients"
    listed = RevokedClients(path)
    cert, other = _certificate(), _certificate()
    listed.check(cert)  # no file: none revoked
    assert revoke(path, cert_pem(cert), NOW) == revocation_key(cert)
    twin = with_twin_signature(cert)  # other bytes, as valid, no CA key needed
    assert twin.public_bytes(serialization.Encoding.DER) != cert.public_bytes(
        serialization.Encoding.DER
    )
    for presented in (cert, twin):
        with pytest.raises(AuthenticationError) as refused:
            listed.check(presented)
        assert refused.value.code == "revoked_client_certificate"
    listed.check(other)
    note = path.read_text()
    assert "serial" in note
    assert "2026-12-06" in note


def test_a_list_that_does_not_read_refuses_every_client(tmp_path: Path) -> None:
    path = tmp_path / "revoked-clients"
    listed = RevokedClients(path)
    cert = _certificate()
    path.write_text("# lost on 2026-12-01\n\n" + "ab" * 32 + "  # a note\n")
    listed.check(cert)
    path.write_text("ab" * 31 + "\n")  # a fingerprint cut short
    os.utime(path, ns=(1, 1))
    with pytest.raises(ConfigError, match="revoked-clients:1"):
        listed.check(cert)


def test_what_is_not_a_certificate_is_not_listed(tmp_path: Path) -> None:
    path = tmp_path / "revoked-clients"
    with pytest.raises(ConfigError):
        revoke(path, "not a certificate", NOW)
    assert not path.exists()
