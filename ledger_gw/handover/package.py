"""The hand-over package: what the referring agency shares, sealed to the receiver.

The plaintext holds her registration attributes, the referral note and a fresh salt;
the ledger records only the salted hash of it, so the receiver can tell the package is
the one the sender recorded, and nobody without the package learns anything from the
hash. Sealing is HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-256-GCM, with the referral ID and both organisations bound into the key schedule
(info) and the ciphertext (aad): a package cannot be passed off as another referral's,
nor as sent by or to anyone else.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey
from pyhpke.exceptions import PyHPKEError

from chaincode.canonical import canonical_json
from ledger_gw import strict_json
from ledger_gw.errors import HandoverError, MalformedError
from ledger_gw.pseudonym import document_hash, new_salt

VERSION = 1
SUITE_NAME = "DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/AES-256-GCM"
_SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
_INFO = b"ledger-gw referral hand-over v1\n"
MAX_SEALED_BYTES = 1 << 21


@dataclass(frozen=True)
class Binding:
    """Whose package this is: it names the referral and both organisations."""

    referral_id: str
    from_org: str
    to_org: str

    def encode(self) -> bytes:
        return canonical_json(
            {"referral_id": self.referral_id, "from_org": self.from_org, "to_org": self.to_org}
        )


@dataclass(frozen=True)
class Handover:
    """What the receiving caseworker is shown to confirm."""

    binding: Binding
    pid: str
    attributes: Mapping[str, str]
    note: str
    salt: bytes

    def content(self) -> bytes:
        return canonical_json(
            {
                **json.loads(self.binding.encode()),
                "pid": self.pid,
                "attributes": dict(self.attributes),
                "note": self.note,
            }
        )

    @property
    def document_hash(self) -> str:
        """The salted hash the ledger records for the hand-over."""
        return document_hash(self.salt, self.content())

    def plaintext(self) -> bytes:
        return canonical_json(
            {"salt": self.salt.hex(), "content": json.loads(self.content()), "v": VERSION}
        )


def new_handover(binding: Binding, pid: str, attributes: Mapping[str, str], note: str) -> Handover:
    return Handover(binding, pid, dict(attributes), note, new_salt())


def seal(handover: Handover, recipient: X25519PublicKey) -> bytes:
    """The sealed package, as the sender stores it and the receiver fetches it."""
    aad = handover.binding.encode()
    enc, sender = _SUITE.create_sender_context(
        KEMKey.from_pyca_cryptography_key(recipient), info=_INFO + aad
    )
    ciphertext = sender.seal(handover.plaintext(), aad=aad)
    envelope = {
        "v": VERSION,
        "suite": SUITE_NAME,
        **json.loads(aad),
        "enc": base64.b64encode(enc).decode("ascii"),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
    }
    return canonical_json(envelope)


def _tampered(what: str) -> HandoverError:
    return HandoverError(f"the hand-over package {what}", code="handover_tampered")


def _envelope(sealed: bytes) -> dict[str, Any]:
    if len(sealed) > MAX_SEALED_BYTES:
        raise _tampered("is too large")
    try:  # from whoever answered the fetch: I-JSON at a bounded depth
        envelope = strict_json.loads(sealed)
    except MalformedError as exc:
        raise _tampered("is not JSON") from exc
    if not isinstance(envelope, dict) or envelope.get("v") != VERSION:
        raise _tampered("is not a version 1 package")
    if envelope.get("suite") != SUITE_NAME:
        raise _tampered("names another cipher suite")
    return envelope


def open_sealed(sealed: bytes, binding: Binding, key: X25519PrivateKey) -> Handover:
    """Open a package fetched for `binding` (the referral as the ledger has it) with the
    receiver's private key; refuses one sealed to another organisation, for another
    referral, or altered in any byte."""
    envelope = _envelope(sealed)
    if envelope.get("to_org") != binding.to_org:
        raise HandoverError(
            f"the hand-over package is sealed to {envelope.get('to_org')!r}, "
            f"not to {binding.to_org}",
            code="handover_not_for_you",
        )
    if (envelope.get("referral_id"), envelope.get("from_org")) != (
        binding.referral_id,
        binding.from_org,
    ):
        raise HandoverError(
            "the hand-over package is for another referral or from another organisation",
            code="handover_mismatch",
        )
    aad = binding.encode()
    try:
        enc = base64.b64decode(str(envelope.get("enc")), validate=True)
        ciphertext = base64.b64decode(str(envelope.get("ciphertext")), validate=True)
        recipient = _SUITE.create_recipient_context(
            enc, KEMKey.from_pyca_cryptography_key(key), info=_INFO + aad
        )
        plaintext = recipient.open(ciphertext, aad=aad)
    except (binascii.Error, ValueError, PyHPKEError) as exc:
        raise _tampered("does not open with this organisation's key: altered or not ours") from exc
    return _handover(plaintext, binding)


def _handover(plaintext: bytes, binding: Binding) -> Handover:
    try:
        data = strict_json.loads(plaintext)
        content = data["content"]
        handover = Handover(
            binding,
            str(content["pid"]),
            {str(k): str(v) for k, v in dict(content["attributes"]).items()},
            str(content["note"]),
            bytes.fromhex(data["salt"]),
        )
        same = handover.content() == canonical_json(content)  # TypeError for a float
    except (ValueError, KeyError, TypeError, MalformedError) as exc:
        raise _tampered("holds no readable content") from exc
    if not same:
        raise _tampered("content does not match its binding")
    return handover
