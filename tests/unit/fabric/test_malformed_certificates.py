"""A creator whose certificate is malformed within, as a member's CA may issue it.

The peer's MSP has accepted it (or a member crafted it past its own): the chaincode must
refuse it as a bad certificate, not fail the transaction as its own error, and whatever
cryptography raises on reading it must be the ValueError a loader promises.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledger_gw.fabric.identity import FABRIC_CA_ATTRS_OID
from ledger_gw.fabric.proposal import FabricSigner
from ledger_gw.identity import load_one_certificate
from tests.unit.fabric.test_fabric_shim import FakePeer, _response
from tests.unit.fabric.test_fabric_shim import connect as connect  # the fixture

__all__ = ["connect"]

Contract = Callable[[Any, str, Sequence[bytes]], bytes]
_OTHER_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.2")  # encodes as long as the role's


def _der(key: ec.EllipticCurvePrivateKey, role_attribute: bool) -> bytes:
    """An agency's certificate, well formed, with a role attribute and one more
    extension where asked: their OIDs differ in their last byte."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AGENCY-B"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "agency"),
            x509.NameAttribute(NameOID.COMMON_NAME, "zzzz"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if role_attribute:
        value = json.dumps({"attrs": {"role": "agency"}}).encode()
        for oid in (FABRIC_CA_ATTRS_OID, _OTHER_OID):
            builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _pem(der: bytes) -> bytes:
    return (
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    )


def _once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def _version_5(key: ec.EllipticCurvePrivateKey) -> bytes:
    """X.509 has versions 1 to 3 (0 to 2 on the wire): cryptography raises InvalidVersion."""
    return _once(_der(key, False), b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x05")


def _duplicate_extension(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The role attribute twice: cryptography raises DuplicateExtension when it is read."""
    other, role = bytes.fromhex("06082a03040506070802"), bytes.fromhex("06082a03040506070801")
    return _once(_der(key, True), other, role)


def _subject_not_utf8(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A UTF8String that is not UTF-8, in the subject only: read when first asked for."""
    der = _der(key, False)
    at = der.rindex(b"\x0c\x04zzzz")  # the subject follows the issuer
    return der[:at] + b"\x0c\x04\xff\xfe\xfd\xfc" + der[at + 6 :]


MALFORMED = [
    pytest.param(_version_5, id="version-5"),
    pytest.param(_duplicate_extension, id="duplicate-extension"),
    pytest.param(_subject_not_utf8, id="subject-not-utf8"),
]


@pytest.mark.parametrize("malformed", MALFORMED)
def test_a_certificate_malformed_within_is_a_value_error(
    malformed: Callable[[ec.EllipticCurvePrivateKey], bytes],
) -> None:
    with pytest.raises(ValueError, match=r"malformed|pars"):
        load_one_certificate(_pem(malformed(ec.generate_private_key(ec.SECP256R1()))))


@pytest.mark.parametrize("malformed", MALFORMED)
def test_a_creator_malformed_within_is_refused_as_a_bad_certificate(
    connect: Callable[[Contract], FakePeer],
    malformed: Callable[[ec.EllipticCurvePrivateKey], bytes],
) -> None:
    """Refused before the contract runs, as any malformed certificate: not 500, the
    contract's failure, with its stack trace in the log."""
    ran: list[str] = []
    peer = connect(lambda stub, function, args: ran.append(stub.creator.org_id) or b"{}")
    peer.handshake()
    key = ec.generate_private_key(ec.SECP256R1())
    peer.transaction(FabricSigner("AGENCY-B", _pem(malformed(key)).decode(), key), "history")
    response = _response(peer.receive())
    assert response.status == 400
    assert json.loads(response.message) == {
        "kind": "forbidden",
        "code": "bad_certificate",
        "message": "the submitter's certificate is malformed",
    }
    assert ran == []


def test_the_certificates_made_here_are_read_but_for_their_flaw(
    connect: Callable[[Contract], FakePeer],
) -> None:
    """The same certificates without the flaw are an agency's: what is refused above is
    the flaw, not the way they are made."""
    key = ec.generate_private_key(ec.SECP256R1())
    for der in (_der(key, False), _der(key, True)):
        assert load_one_certificate(_pem(der)).subject.rfc4514_string().startswith("CN=zzzz")
    peer = connect(lambda stub, function, args: stub.creator.role.encode())
    peer.handshake()
    peer.transaction(FabricSigner("AGENCY-B", _pem(_der(key, True)).decode(), key), "history")
    assert _response(peer.receive()).payload == b"agency"
