"""A sealed hand-over package as the receiver opens it: whatever the party that answers
the fetch sends (the sender's gateway, or whoever sits on a plain-http link) is refused
as tampered, never an exception out of the receiver."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pyhpke import KEMKey

from chaincode.canonical import canonical_json
from ledger_gw.errors import HandoverError
from ledger_gw.handover import package
from ledger_gw.handover.package import Binding, new_handover, open_sealed, seal

BINDING = Binding("3f0c6a52-8e0d-4b7a-9a51-5d1f6e7a9b10", "AGENCY-A", "AGENCY-B")
KEY = X25519PrivateKey.generate()


def _sealed(plaintext: bytes) -> bytes:
    """A package sealed to the receiver's public key (which anyone may know) over bytes
    of the sender's choosing."""
    aad = BINDING.encode()
    enc, sender = package._SUITE.create_sender_context(
        KEMKey.from_pyca_cryptography_key(KEY.public_key()), info=package._INFO + aad
    )
    envelope = {
        "v": package.VERSION,
        "suite": package.SUITE_NAME,
        **json.loads(aad),
        "enc": base64.b64encode(enc).decode(),
        "ciphertext": base64.b64encode(sender.seal(plaintext, aad=aad)).decode(),
    }
    return canonical_json(envelope)


def _content(**extra: object) -> bytes:
    content = {**json.loads(BINDING.encode()), "pid": "k1.x", "attributes": {}, "note": "n"}
    return json.dumps({"salt": "00" * 32, "content": {**content, **extra}, "v": 1}).encode()


def test_an_honest_package_opens() -> None:
    handover = new_handover(BINDING, "k1.x", {"given_name": "Fatima"}, "note")
    assert open_sealed(seal(handover, KEY.public_key()), BINDING, KEY) == handover


@pytest.mark.parametrize(
    "sealed",
    [
        b"[" * 5_000,  # past the parser's stack
        b'{"v": 1, "n": ' + b"9" * 5_000 + b"}",  # past int()'s digits
        b'{"v": 1, "v": 1}',
        b"\xff",
    ],
    ids=["deep", "long number", "duplicate key", "not UTF-8"],
)
def test_an_envelope_that_does_not_read_is_tampered(sealed: bytes) -> None:
    with pytest.raises(HandoverError) as caught:
        open_sealed(sealed, BINDING, KEY)
    assert caught.value.code == "handover_tampered"


@pytest.mark.parametrize(
    "plaintext",
    [
        _content(score=1.5),  # no canonical JSON of a float
        b'{"content": ' + b"[" * 5_000 + b"}",
        _content(attributes={"given_name": "\\ud800"}).replace(b"\\\\ud800", b"\\ud800"),
    ],
    ids=["float", "deep", "lone surrogate"],
)
def test_content_that_does_not_read_is_tampered(plaintext: bytes) -> None:
    with pytest.raises(HandoverError) as caught:
        open_sealed(_sealed(plaintext), BINDING, KEY)
    assert caught.value.code == "handover_tampered"
