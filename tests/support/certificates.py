"""Certificates re-encoded as a holder can re-encode them without the CA's key."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ledger_gw.audit.fabric_blocks import _der
from ledger_gw.identity import P256_ORDER


def reassembled(cert: x509.Certificate, tbs: bytes, signature: bytes) -> x509.Certificate:
    """``cert``'s signature algorithm, around another signed part and signature."""
    der = cert.public_bytes(serialization.Encoding.DER)
    after_tbs = der.index(cert.tbs_certificate_bytes) + len(cert.tbs_certificate_bytes)
    algorithm = der[after_tbs : after_tbs + 2 + der[after_tbs + 1]]
    return x509.load_der_x509_certificate(
        _der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature))
    )


def with_twin_signature(cert: x509.Certificate) -> x509.Certificate:
    """The same certificate with its CA's ECDSA signature (r, s) swapped for (r, n - s):
    as valid, over the same signed part, in other bytes."""
    r, s = decode_dss_signature(cert.signature)
    return reassembled(cert, cert.tbs_certificate_bytes, encode_dss_signature(r, P256_ORDER - s))
