"""A sealed hand-over package is bound to its referral and to both organisations: the
attacks below take a genuine package, or seal one to the receiver's public key (which
anyone may do), and try to pass it off as another referral's, or as sent by another
organisation. The receiver opens none of them.

Real HPKE (X25519, HKDF-SHA256, AES-256-GCM) with real keys; the attacker holds no
private key but its own.
"""

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

B_KEY = X25519PrivateKey.generate()
FIRST = Binding("3f0c6a52-8e0d-4b7a-9a51-5d1f6e7a9b10", "AGENCY-A", "AGENCY-B")
SECOND = Binding("9b2d4e61-7c3a-4f08-b1e5-2a6c8d0f4e37", "AGENCY-A", "AGENCY-B")
FATIMA = {"given_name": "Fatima", "family_name": "Hassan"}


def _code(sealed: bytes, binding: Binding) -> str:
    with pytest.raises(HandoverError) as caught:
        open_sealed(sealed, binding, B_KEY)
    return caught.value.code


def _relabelled(sealed: bytes, **fields: str) -> bytes:
    """The same ciphertext with the envelope's plain fields rewritten."""
    return canonical_json({**json.loads(sealed), **fields})


def _sealed_under(binding: Binding, plaintext: bytes, schedule: bytes | None = None) -> bytes:
    """Bytes of the attacker's choosing sealed to B's public key under `binding`, as
    `seal` seals a package: a valid HPKE envelope for that referral. `schedule` replaces
    what the key schedule and the ciphertext bind (the binding's encoding)."""
    aad = binding.encode() if schedule is None else schedule
    enc, sender = package._SUITE.create_sender_context(
        KEMKey.from_pyca_cryptography_key(B_KEY.public_key()), info=package._INFO + aad
    )
    return canonical_json(
        {
            "v": package.VERSION,
            "suite": package.SUITE_NAME,
            **json.loads(binding.encode()),
            "enc": base64.b64encode(enc).decode(),
            "ciphertext": base64.b64encode(sender.seal(plaintext, aad=aad)).decode(),
        }
    )


def test_a_package_for_one_referral_is_not_taken_for_another() -> None:
    genuine = seal(new_handover(FIRST, "k1.fatima", FATIMA, "insulin"), B_KEY.public_key())
    assert open_sealed(genuine, FIRST, B_KEY).binding == FIRST
    assert _code(genuine, SECOND) == "handover_mismatch"
    # its envelope relabelled for the second referral: the key schedule still says the first
    relabelled = _relabelled(genuine, referral_id=SECOND.referral_id)
    assert _code(relabelled, SECOND) == "handover_tampered"
    # the key schedule binds on its own: content naming the second referral, sealed
    # under the first's binding or under none, does not open for the second
    second = new_handover(SECOND, "k1.fatima", FATIMA, "insulin").plaintext()
    for schedule in (FIRST.encode(), b""):
        crossed = _sealed_under(SECOND, second, schedule)
        assert _code(crossed, SECOND) == "handover_tampered"
    assert open_sealed(_sealed_under(SECOND, second), SECOND, B_KEY).binding == SECOND


def test_a_package_another_organisation_sealed_is_not_taken_for_the_senders() -> None:
    """AGENCY-C seals to B's published key for a referral AGENCY-A made, then names A as
    the sender on the envelope: the binding it sealed under names C."""
    by_c = Binding(FIRST.referral_id, "AGENCY-C", "AGENCY-B")
    sealed = seal(new_handover(by_c, "k1.fatima", FATIMA, "insulin"), B_KEY.public_key())
    assert _code(sealed, FIRST) == "handover_mismatch"
    assert _code(_relabelled(sealed, from_org="AGENCY-A"), FIRST) == "handover_tampered"


def test_content_of_another_referral_sealed_under_this_ones_binding_is_refused() -> None:
    """Whoever holds a package's plaintext (its receiver, say) seals it again, validly,
    under another referral's binding: the content names the referral it was made for."""
    other = new_handover(FIRST, "k1.fatima", FATIMA, "insulin")
    resealed = _sealed_under(SECOND, other.plaintext())
    assert _code(resealed, SECOND) == "handover_tampered"
    # the same bytes under their own binding open: the refusal is the binding's alone
    assert open_sealed(_sealed_under(FIRST, other.plaintext()), FIRST, B_KEY) == other
