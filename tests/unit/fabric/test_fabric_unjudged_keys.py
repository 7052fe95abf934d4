"""A Fabric certificate this verifier cannot read, or whose key it cannot load, is an
identity it refuses.

A member's CA issues what it likes, and a forged channel configuration names whatever
root it likes: a key on a curve the cryptography library does not implement must fail
the identity's check, never escape the verifier as an exception of its own.
"""

from __future__ import annotations

import ssl
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ledger_gw import protos as pb
from ledger_gw.audit.fabric_blocks import verify_evidence
from ledger_gw.errors import AuthenticationError, IntegrityError
from ledger_gw.fabric.proposal import FabricSigner
from ledger_gw.identity import cert_pem, issue_ca, issue_member
from tests.unit.fabric.test_fabric_evidence import Org, _block, _chain, _org, _tx

P256 = bytes.fromhex("06082a8648ce3d030107")  # the OID of the curve, as DER
UNKNOWN_CURVE = bytes.fromhex("06082a8648ce3d030163")  # an arc no curve has
ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return bytes([tag]) + length + body


def _on_unknown_curve(cert: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey) -> str:
    """``cert`` with its key's curve renamed, signed again by its issuer: a certificate
    the issuer really issued, whose key no verifier here can load."""
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(P256) >= 1
    tbs = tbs.replace(P256, UNKNOWN_CURVE)
    signature = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    der = _der(0x30, tbs + ECDSA_SHA256 + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def orgs() -> dict[str, Org]:
    return {o: _org(o) for o in ("ORDERER", "AGENCY-A", "AGENCY-B", "AGENCY-C")}


def test_an_endorser_whose_ca_issued_it_a_key_no_one_can_load_is_refused(
    orgs: dict[str, Org],
) -> None:
    ca_key, ca_cert = issue_ca("AGENCY-B")
    key, cert = issue_member(ca_key, ca_cert, "AGENCY-B", "agency", "peer")
    odd = FabricSigner("AGENCY-B", _on_unknown_curve(cert, ca_key), key)
    agency_b = Org("AGENCY-B", cert_pem(ca_cert).encode(), odd)
    evidence = _chain({**orgs, "AGENCY-B": agency_b}, ["AGENCY-A"])
    one = pb.common.Block.FromString(evidence.blocks[0])
    tx = _tx(orgs["AGENCY-A"], [orgs["AGENCY-A"], agency_b])
    block = _block(
        1, one.header.previous_hash, [one.data.data[0], tx], orgs["ORDERER"], b"\x00\x00"
    )
    with pytest.raises((AuthenticationError, IntegrityError), match="not ECDSA"):
        verify_evidence(replace(evidence, blocks=(block,)))


def test_a_root_no_one_can_load_issues_no_identity(orgs: dict[str, Org]) -> None:
    ca_key, ca_cert = issue_ca("AGENCY-B")
    odd_root = _on_unknown_curve(ca_cert, ca_key).encode()
    with_odd_root = {**orgs, "AGENCY-B": replace(orgs["AGENCY-B"], ca_pem=odd_root)}
    evidence = _chain(with_odd_root, ["AGENCY-A", "AGENCY-B"])
    with pytest.raises(AuthenticationError, match="not issued by AGENCY-B"):
        verify_evidence(evidence)


def _of_version(cert: x509.Certificate, version: int) -> str:
    """``cert`` with an X.509 version no certificate has (its signature left as it was:
    the version is read first)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    v3 = bytes.fromhex("a003020102")
    assert der.count(v3) == 1
    odd = der.replace(v3, bytes.fromhex("a0030201") + bytes([version]))
    return ssl.DER_cert_to_PEM_cert(odd)


def test_an_endorser_certificate_of_no_x509_version_is_refused(orgs: dict[str, Org]) -> None:
    evidence = _chain(orgs, ["AGENCY-A"])
    member = orgs["AGENCY-B"].member
    cert = x509.load_pem_x509_certificate(member.cert_pem.encode())
    odd = replace(orgs["AGENCY-B"], member=replace(member, cert_pem=_of_version(cert, 66)))
    one = pb.common.Block.FromString(evidence.blocks[0])
    tx = _tx(orgs["AGENCY-A"], [orgs["AGENCY-A"], odd])
    block = _block(
        1, one.header.previous_hash, [one.data.data[0], tx], orgs["ORDERER"], b"\x00\x00"
    )
    with pytest.raises(AuthenticationError, match="AGENCY-B's identity is not one PEM"):
        verify_evidence(replace(evidence, blocks=(block,)))


def test_a_root_certificate_of_no_x509_version_is_a_malformed_configuration(
    orgs: dict[str, Org],
) -> None:
    root = x509.load_pem_x509_certificate(orgs["AGENCY-B"].ca_pem)
    odd = {**orgs, "AGENCY-B": replace(orgs["AGENCY-B"], ca_pem=_of_version(root, 18).encode())}
    with pytest.raises(ValueError, match="a root certificate of AGENCY-B"):
        verify_evidence(_chain(odd, ["AGENCY-A", "AGENCY-B"]))
