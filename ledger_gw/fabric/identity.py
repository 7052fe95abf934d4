"""Fabric identities → the contract's Identity: organisation = MSP ID, role from the cert.

The role comes from a Fabric CA attribute `role` (the JSON extension Fabric CA writes
under OID 1.2.3.4.5.6.7.8.1, as the Go `cid` package reads it) when there is one, else
from the one organisational unit that names a role (agency, auditor, donor). The peer has
already checked the signature and the MSP membership before the chaincode runs.

That role must be the one the consortium file gives the MSP's organisation, as on the
embedded ledger: each organisation's CA is its own, and would otherwise grant it any role
(a donor's CA a certificate saying agency, to record assistance).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cryptography import x509
from cryptography.x509.oid import NameOID

from chaincode.errors import ForbiddenError
from chaincode.stub import ROLES, Identity, Role
from ledger_gw import protos as pb
from ledger_gw.identity import load_one_certificate

FABRIC_CA_ATTRS_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")
ROLE_ATTRIBUTE = "role"


def _as_role(value: str) -> Role:
    for role in ROLES:
        if role == value:
            return role
    raise ForbiddenError("unknown_role", f"certificate role {value!r} is not one of {ROLES}")


def role_of(cert: x509.Certificate) -> Role:
    try:
        ext = cert.extensions.get_extension_for_oid(FABRIC_CA_ATTRS_OID)
    except x509.ExtensionNotFound:
        ext = None
    if ext is not None and isinstance(ext.value, x509.UnrecognizedExtension):
        try:
            attrs = json.loads(ext.value.value).get("attrs", {})
        except (ValueError, AttributeError):
            attrs = {}
        if isinstance(attrs, dict) and ROLE_ATTRIBUTE in attrs:
            return _as_role(str(attrs[ROLE_ATTRIBUTE]))
    units = [
        str(a.value)
        for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if a.value in ROLES
    ]
    if len(units) != 1:
        raise ForbiddenError(
            "no_role", "the submitter's certificate names no single role (OU or role attribute)"
        )
    return _as_role(units[0])


def identity_from_creator(creator: bytes, members: Mapping[str, Role]) -> Identity:
    """A serialized `msp.SerializedIdentity` (SignatureHeader.creator) as the contract sees
    it, for a consortium whose members have the roles ``members`` gives them."""
    sid = pb.identities.SerializedIdentity.FromString(creator)
    try:
        cert = load_one_certificate(bytes(sid.id_bytes))
    except ValueError as exc:
        raise ForbiddenError("bad_certificate", "the submitter's certificate is malformed") from exc
    org_id, role = str(sid.mspid), role_of(cert)
    member_role = members.get(org_id)
    if member_role is None:
        raise ForbiddenError(
            "unknown_organisation", f"organisation {org_id!r} is not a consortium member"
        )
    if role != member_role:
        raise ForbiddenError(
            "wrong_role", f"certificate role {role!r} is not {org_id}'s role {member_role!r}"
        )
    return Identity(org_id, role)
