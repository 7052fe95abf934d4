"""The log node's list of revoked TLS client certificates: read again whenever it
changes, and a list that does not read refuses every client rather than none."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.identity import cert_pem, issue_ca, issue_member
from ledger_gw.node.revoked import RevokedClients, revocation_key, revoke
from tests.support.certificates import with_twin_signature
from tests.support.disk import umask

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def _certificate(common_name: str = "tls") -> x509.Certificate:
    ca_key, ca_cert = issue_ca("AGENCY-A")
    _, cert = issue_member(ca_key, ca_cert, "AGENCY-A", "agency", common_name, tls_client=True)
    return cert


@pytest.fixture
def no_umask() -> Iterator[None]:
    """Under a umask of 000 a file made with the default mode is anyone's to edit."""
    with umask(0):
        yield


def test_a_revoked_certificate_is_refused_once_listed_and_no_other(tmp_path: Path) -> None:
    path = tmp_path / "node" / "revoked-clients"
    listed = RevokedClients(path)
    cert, other = _certificate(), _certificate()
    listed.check(cert)  # no file: none revoked
    assert revoke(path, cert_pem(cert), NOW) == (revocation_key(cert), True)
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


def test_a_certificate_revoked_again_is_listed_once(tmp_path: Path) -> None:
    path = tmp_path / "revoked-clients"
    cert = _certificate()
    assert revoke(path, cert_pem(cert), NOW) == (revocation_key(cert), True)
    once = path.read_text()
    assert revoke(path, cert_pem(cert), NOW + dt.timedelta(days=1)) == (revocation_key(cert), False)
    assert path.read_text() == once
    assert len(once.splitlines()) == 1


@pytest.mark.usefixtures("no_umask")
def test_the_list_is_written_whole_and_only_its_owner_may_change_it(tmp_path: Path) -> None:
    """A new list renamed over the old: the node reads one or the other, never a line
    a crash cut short (which would refuse every client)."""
    path = tmp_path / "node" / "revoked-clients"
    first, second = _certificate(), _certificate()
    revoke(path, cert_pem(first), NOW)
    before = path.stat().st_ino
    revoke(path, cert_pem(second), NOW)
    assert path.stat().st_ino != before  # not appended in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    assert sorted(p.name for p in path.parent.iterdir()) == ["revoked-clients"]
    listed = RevokedClients(path)
    for cert in (first, second):
        with pytest.raises(AuthenticationError):
            listed.check(cert)


def test_a_list_that_does_not_read_is_not_written_to(tmp_path: Path) -> None:
    path = tmp_path / "revoked-clients"
    broken = "ab" * 32 + "\n" + "ab" * 7  # the last line cut short
    path.write_text(broken)
    with pytest.raises(ConfigError, match="revoked-clients:2"):
        revoke(path, cert_pem(_certificate()), NOW)
    assert path.read_text() == broken


@pytest.mark.parametrize("breaks", ["\r", "\u2028", "\x85", "\x1c"])
def test_a_subject_that_breaks_lines_keeps_its_note_on_one_line(
    tmp_path: Path, breaks: str
) -> None:
    """A member's CA names its certificates: a subject with a line break in it, once
    revoked, must not put a line that is no fingerprint in the list."""
    path = tmp_path / "revoked-clients"
    cert, other = _certificate(f"tls{breaks}deadbeef"), _certificate()
    revoke(path, cert_pem(cert), NOW)
    listed = RevokedClients(path)
    listed.check(other)
    with pytest.raises(AuthenticationError):
        listed.check(cert)


def test_revocations_at_once_are_all_listed(tmp_path: Path) -> None:
    path = tmp_path / "revoked-clients"
    certs = [_certificate() for _ in range(8)]
    with ThreadPoolExecutor(len(certs)) as pool:
        list(pool.map(lambda cert: revoke(path, cert_pem(cert), NOW), certs))
    listed = RevokedClients(path)
    for cert in certs:
        with pytest.raises(AuthenticationError):
            listed.check(cert)
