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
import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509

from ledger_gw.errors import AuthenticationError, ConfigError
from ledger_gw.files import PUBLIC, make_dirs, write_file

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
    return _parse(path, path.read_text(encoding="utf-8"))


def _parse(path: Path, text: str) -> frozenset[str]:
    revoked = set()
    for number, line in enumerate(text.splitlines(), 1):
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


def revoke(path: Path, pem: str, now: dt.datetime) -> tuple[str, bool]:
    """Add the certificate (PEM) to the list: its fingerprint, and whether it was not
    listed already. The whole list is written again and renamed over the old one, so
    the node reads either, never a line cut short by a crash (which would refuse every
    client); a list the node would refuse is refused here, to be mended first."""
    cert = _certificate(pem)
    found = revocation_key(cert)
    # Whatever a CA put in the subject stays on its comment's line.
    subject = " ".join(cert.subject.rfc4514_string().splitlines())
    with _locked(path.parent):
        listed = path.read_text(encoding="utf-8") if path.exists() else ""
        if found in _parse(path, listed):
            return found, False
        if listed and not listed.endswith("\n"):
            listed += "\n"
        line = f"{found}  # {subject}, serial {cert.serial_number:x}, revoked {now:%Y-%m-%d}\n"
        write_file(path, (listed + line).encode(), PUBLIC)
    return found, True


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One revocation at a time in the directory, so that two at once both stay listed."""
    make_dirs(directory)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ConfigError(f"not a PEM certificate: {exc}") from None
