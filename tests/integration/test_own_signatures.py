"""A signature this process just made with a key matching its certificate is taken once
without a second verification; everything else is verified as always."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger_gw import identity
from ledger_gw.errors import AuthenticationError
from ledger_gw.identity import OWN_SIGNATURES, OwnSignatures, Signer, sign_low_s
from ledger_gw.workspace import Workspace

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The signatures the Authenticator actually verified, in order."""
    seen: list[bytes] = []
    real = identity.verify_low_s

    def counting(public_key, signature, data):  # type: ignore[no-untyped-def]
        seen.append(signature)
        return real(public_key, signature, data)

    monkeypatch.setattr(identity, "verify_low_s", counting)
    monkeypatch.setattr(OWN_SIGNATURES, "enabled", True)  # as an embedded ledger does
    return seen


def test_an_own_signature_is_taken_once(workspace: Workspace, verified: list[bytes]) -> None:
    auth = workspace.consortium.authenticator()
    signer = workspace.signer("AGENCY-A")
    payload = b'{"a":1}'
    signature = signer.sign(payload)
    assert auth.authenticate(signer.cert_pem, signature, payload, NOW).org_id == "AGENCY-A"
    assert verified == []
    auth.authenticate(signer.cert_pem, signature, payload, NOW)  # seen again: verified
    assert verified == [signature]


def test_signatures_made_elsewhere_are_verified(
    workspace: Workspace, verified: list[bytes]
) -> None:
    auth = workspace.consortium.authenticator()
    signer = workspace.signer("AGENCY-A")
    payload = b'{"a":2}'
    signature = sign_low_s(signer.key, payload)  # not through a Signer of this process
    auth.authenticate(signer.cert_pem, signature, payload, NOW)
    assert verified == [signature]


def test_a_key_that_is_not_the_certificates_vouches_for_nothing(
    workspace: Workspace, verified: list[bytes]
) -> None:
    auth = workspace.consortium.authenticator()
    a, b = workspace.signer("AGENCY-A"), workspace.signer("AGENCY-B")
    mismatched = Signer(b.key, a.cert_pem)
    payload = b'{"a":3}'
    signature = mismatched.sign(payload)
    with pytest.raises(AuthenticationError, match="does not verify"):
        auth.authenticate(a.cert_pem, signature, payload, NOW)
    assert verified == [signature]


def test_own_signatures_are_kept_only_once_enabled() -> None:
    own = OwnSignatures()
    own.add("pem", b"payload", b"sig")
    assert not own.take("pem", b"payload", b"sig")  # a Fabric gateway keeps none
    own.enable()
    own.add("pem", b"payload", b"sig")
    assert own.take("pem", b"payload", b"sig")


def test_own_signatures_are_bounded_and_exact() -> None:
    own = OwnSignatures(limit=2)
    own.enable()
    for n in range(3):
        own.add("pem", b"payload%d" % n, b"sig%d" % n)
    assert not own.take("pem", b"payload0", b"sig0")  # the oldest went first
    assert not own.take("pem", b"payload1", b"sig2")  # another payload's signature
    assert not own.take("other pem", b"payload1", b"sig1")
    assert own.take("pem", b"payload1", b"sig1")
    assert not own.take("pem", b"payload1", b"sig1")  # once only
    assert own.take("pem", b"payload2", b"sig2")
