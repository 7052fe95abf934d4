"""Signatures this process made, so that its embedded ledger need not check them again.

A gateway on the embedded ledger signs each transaction and then admits it in the same
process: verifying a signature that a key matching its certificate made a moment ago
only repeats the signer's arithmetic. The gateway's signers are wrapped to record what
they sign; the ledger takes each recorded signature once instead of verifying it.
Anything from elsewhere, or seen again, is verified as always.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ledger_gw.identity import Signer, load_certificate


class OwnSignatures:
    """Bounded: the oldest go first."""

    def __init__(self, limit: int = 20_000) -> None:
        self._limit = limit
        self._made: dict[tuple[str, bytes, bytes], None] = {}
        self._lock = threading.Lock()

    def recording(self, signer: Signer) -> Signer:
        """`signer`, recording here what it signs; one whose key is not its certificate's
        vouches for nothing and is returned as it is."""
        if load_certificate(signer.cert_pem).public_key() != signer.key.public_key():
            return signer
        return _Recording(signer.key, signer.cert_pem, self)

    def add(self, pem: str, payload: bytes, signature: bytes) -> None:
        with self._lock:
            self._made[(pem, payload, signature)] = None
            while len(self._made) > self._limit:
                del self._made[next(iter(self._made))]

    def take(self, pem: str, payload: bytes, signature: bytes) -> bool:
        with self._lock:
            try:
                del self._made[(pem, payload, signature)]
            except KeyError:
                return False
            return True


@dataclass(frozen=True)
class _Recording(Signer):
    made: OwnSignatures = field(repr=False, compare=False)

    def sign(self, payload: bytes) -> bytes:
        signature = super().sign(payload)
        self.made.add(self.cert_pem, payload, signature)
        return signature
