"""A signature this process just made, through a recording signer whose key matches its
certificate, is admitted once by the embedded ledger without a second verification;
everything else is verified as always."""

from __future__ import annotations

import pytest

from ledger_gw import identity
from ledger_gw.client import OrgClient
from ledger_gw.embedded.own_signatures import OwnSignatures
from ledger_gw.identity import Signer
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeLedger


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The signatures the Authenticator actually verified, in order."""
    seen: list[bytes] = []
    real = identity.verify_low_s

    def counting(public_key, signature, data):  # type: ignore[no-untyped-def]
        seen.append(signature)
        return real(public_key, signature, data)

    monkeypatch.setattr(identity, "verify_low_s", counting)
    return seen


def test_an_own_signature_is_taken_once(
    workspace: Workspace, make_ledger: MakeLedger, verified: list[bytes]
) -> None:
    own = OwnSignatures()
    ledger = make_ledger(own_signatures=own)
    agency = OrgClient(ledger, own.recording(workspace.signer("AGENCY-A")))
    signed = agency.sign("submit", ev.entitlement_granted(ev.pid()))
    [first] = ledger.submit_many([signed])
    assert first.error is None
    assert first.position == 0
    assert verified == []
    [again] = ledger.submit_many([signed])  # seen again: verified
    assert again.error is None
    assert verified == [signed.signature]


def test_signatures_made_elsewhere_are_verified(
    workspace: Workspace, make_ledger: MakeLedger, verified: list[bytes]
) -> None:
    own = OwnSignatures()
    ledger = make_ledger(own_signatures=own)
    signed = OrgClient(ledger, workspace.signer("AGENCY-A")).sign(  # not recorded
        "submit", ev.entitlement_granted(ev.pid())
    )
    assert ledger.submit_many([signed])[0].error is None
    assert verified == [signed.signature]


def test_a_ledger_without_own_signatures_verifies_everything(
    workspace: Workspace, make_ledger: MakeLedger, verified: list[bytes]
) -> None:
    own = OwnSignatures()
    ledger = make_ledger()
    agency = OrgClient(ledger, own.recording(workspace.signer("AGENCY-A")))
    signed = agency.sign("submit", ev.entitlement_granted(ev.pid()))
    assert ledger.submit_many([signed])[0].error is None
    assert verified == [signed.signature]


def test_a_key_that_is_not_the_certificates_vouches_for_nothing(
    workspace: Workspace, make_ledger: MakeLedger, verified: list[bytes]
) -> None:
    own = OwnSignatures()
    ledger = make_ledger(own_signatures=own)
    a, b = workspace.signer("AGENCY-A"), workspace.signer("AGENCY-B")
    mismatched = own.recording(Signer(b.key, a.cert_pem))
    assert type(mismatched) is Signer  # not wrapped
    signed = OrgClient(ledger, mismatched).sign("submit", ev.entitlement_granted(ev.pid()))
    [outcome] = ledger.submit_many([signed])
    assert outcome.error is not None
    assert outcome.error.code == "bad_signature"
    assert verified == [signed.signature]
    assert ledger.size() == 0


def test_own_signatures_are_bounded_and_exact() -> None:
    own = OwnSignatures(limit=2)
    for n in range(3):
        own.add("pem", b"payload%d" % n, b"sig%d" % n)
    assert not own.take("pem", b"payload0", b"sig0")  # the oldest went first
    assert not own.take("pem", b"payload1", b"sig2")  # another payload's signature
    assert not own.take("other pem", b"payload1", b"sig1")
    assert own.take("pem", b"payload1", b"sig1")
    assert not own.take("pem", b"payload1", b"sig1")  # once only
    assert own.take("pem", b"payload2", b"sig2")
