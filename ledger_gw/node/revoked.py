"""TLS client certificates the log node no longer lets in, though their member's CA
issued them: a gateway's key lost or stolen, its certificate issued again.

Whoever holds such a key could read its organisation's own entries and proofs at the
node until the certificate expires, and withdrawing the member's CA would end every
certificate it issued. The node's operator lists the certificate here instead
(``ledger-gw log revoke-client``): the SHA-256 of its signed part (the TBS
certificate), one a line, in ``node/revoked-clients`` beside the node's own TLS files.
Not of the whole DER: an ECDSA signature (r, s) has a twin, (r, n - s), as valid as it,
and anyone holding the certificate can swap it in without the CA's key and present
other bytes; the signed part cannot change without the CA signing again.

The node reads the file again whenever it changes, so a revocation needs no restart; a
line that is no fingerprint refuses every client until it is mended, as a list that may
not hold is none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import threading
from pathlib import Path

from cryptography import x509

from ledger_gw.errors import AuthenticationError, ConfigError

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def revocation_key(cert: x509.Certificate) -> str:
    """What the list holds of a certificate: the SHA-256 of what its CA signed."""
    return hashlib.sha256(cert.tbs_certificate_bytes).hexdigest()


class RevokedClients:
    """The node's list, read again when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None  # the file's (mtime, size, inode) read
        self._revoked: frozenset[str] = frozenset()

    def check(self, cert: x509.Certificate) -> None:
        """AuthenticationError for a revoked certificate."""
        if revocation_key(cert) in self._current():
            raise AuthenticationError(
                "this TLS client certificate was revoked at the log node",
                code="revoked_client_certificate",
            )

    def _current(self) -> frozenset[str]:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return frozenset()
        seen = (found.st_mtime_ns, found.st_size, found.st_ino)
        with self._lock:
            if seen != self._seen:
                self._revoked = _read(self.path)
                self._seen = seen
            return self._revoked


def _read(path: Path) -> frozenset[str]:
    revoked = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        value = line.split("#", 1)[0].strip().lower()
        if not value:
            continue
        if not _FINGERPRINT.fullmatch(value):
            raise ConfigError(f"{path}:{number}: not a SHA-256 fingerprint (64 hex digits)")
        revoked.add(value)
    return frozenset(revoked)


def revocation_key_of(pem: str) -> str:
    """What the list would hold of a certificate in PEM. (Not what consortium files
    list of signing certificates, the SHA-256 of the whole DER: see the module.)"""
    return revocation_key(_certificate(pem))


def revoke(path: Path, pem: str, now: dt.datetime) -> str:
    """Add the certificate (PEM) to the list; its fingerprint."""
    cert = _certificate(pem)
    found = revocation_key(cert)
    subject = cert.subject.rfc4514_string().replace("\n", " ")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{found}  # {subject}, serial {cert.serial_number:x}, revoked {now:%Y-%m-%d}\n")
        out.flush()
        os.fsync(out.fileno())
    return found


def _certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ConfigError(f"not a PEM certificate: {exc}") from None
