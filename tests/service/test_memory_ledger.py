"""The service tier's ledger checks what the real backends check before the contract runs."""

from __future__ import annotations

import dataclasses

import pytest

from ledger_gw.errors import AuthenticationError, RejectedError, UnavailableError
from ledger_gw.services.gateway import Gateway
from ledger_gw.transaction import sign_proposal
from tests.support import events as ev
from tests.support.memory_ledger import MemoryLedger


def test_a_forged_signature_is_refused(gateway: Gateway, ledger: MemoryLedger) -> None:
    tx = sign_proposal(gateway.signers["AGENCY-A"], "submit", [ev.entitlement_granted(ev.pid())])
    other = sign_proposal(gateway.signers["AGENCY-A"], "submit", [ev.consent_granted(ev.pid())])
    forged = dataclasses.replace(tx, signature=other.signature)
    outcome = ledger.submit_many([forged])[0]
    assert outcome.error is not None
    assert outcome.error.kind == "unauthenticated"
    assert ledger.size() == 0
    query = sign_proposal(gateway.signers["AGENCY-A"], "consents", [ev.PID])
    with pytest.raises(AuthenticationError):
        ledger.evaluate(dataclasses.replace(query, signature=other.signature))
    assert ledger.evaluate(query)["consents"] == []
    assert ledger.submit(tx)["type"] == "entitlement.granted"
    assert ledger.size() == 1


def test_writes_only_submit_and_queries_only_evaluate(
    gateway: Gateway, ledger: MemoryLedger
) -> None:
    signer = gateway.signers["AGENCY-A"]
    with pytest.raises(RejectedError) as info:
        ledger.submit(sign_proposal(signer, "history", [ev.PID, "referral"]))
    assert info.value.code == "unknown_function"
    with pytest.raises(RejectedError) as info:
        ledger.evaluate(sign_proposal(signer, "submit", [ev.entitlement_granted(ev.pid())]))
    assert info.value.code == "unknown_function"
    assert ledger.size() == 0


def test_a_retried_transaction_keeps_its_position(gateway: Gateway, ledger: MemoryLedger) -> None:
    tx = sign_proposal(gateway.signers["AGENCY-A"], "submit", [ev.entitlement_granted(ev.pid())])
    first, again = ledger.submit_many([tx, tx])
    assert (first.position, again.position) == (0, 0)
    assert first.result == again.result
    assert ledger.size() == 1


def test_closed_means_unavailable(ledger: MemoryLedger) -> None:
    ledger.close()
    with pytest.raises(UnavailableError, match="closed"):
        ledger.ready()
