"""A transaction ID names one signed proposal. The ledger answers a second submission
under an ID it holds as a retry of the first, so a second proposal under that ID must
be refused, not acknowledged at the first one's position while its own event is lost:
whether it reuses the nonce outright or spells the same nonce bytes another way."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest

from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.errors import AuthenticationError
from ledger_gw.transaction import Proposal, SignedTransaction, format_time
from ledger_gw.workspace import Workspace
from tests.support.events import consent_granted, pid


def _signed(ws: Workspace, nonce: str, event: dict[str, object]) -> SignedTransaction:
    signer = ws.signer("AGENCY-A")
    proposal = Proposal(
        signer.cert_pem, nonce, format_time(dt.datetime.now(dt.UTC)), "submit", (event,)
    )
    return SignedTransaction(proposal, signer.sign(proposal.payload))


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _twin_spelling() -> tuple[str, str]:
    """Two base64 spellings of the same 23 bytes: the last character before the padding
    differs in its two unused bits, which a decoder ignores."""
    canonical = base64.b64encode(os.urandom(23)).decode()
    last = ALPHABET.index(canonical[-2])
    twin = canonical[:-2] + ALPHABET[last ^ 1] + "="
    assert twin != canonical
    assert base64.b64decode(twin, validate=True) == base64.b64decode(canonical)
    return canonical, twin


def test_a_nonce_spelled_twice_is_refused_on_the_wire(workspace: Workspace) -> None:
    canonical, twin = _twin_spelling()
    good = _signed(workspace, canonical, consent_granted(pid()))
    assert SignedTransaction.from_dict(good.to_dict()).tx_id == good.tx_id
    forged = _signed(workspace, twin, consent_granted(pid()))
    assert forged.tx_id == good.tx_id  # the alias the canonical spelling rules out
    with pytest.raises(AuthenticationError, match="canonical base64") as refused:
        SignedTransaction.from_dict(forged.to_dict())
    assert refused.value.code == "malformed_transaction"
    with pytest.raises(ValueError, match="canonical base64"):  # as a log entry holds it
        Proposal.from_payload(forged.proposal.payload)


@pytest.mark.parametrize("same_batch", [False, True])
def test_a_second_proposal_under_one_transaction_id_is_refused(
    ledger: EmbeddedLedger, workspace: Workspace, same_batch: bool
) -> None:
    canonical, twin = _twin_spelling()
    first = _signed(workspace, canonical, consent_granted(pid()))
    reused = _signed(workspace, canonical, consent_granted(pid()))  # the nonce again
    aliased = _signed(workspace, twin, consent_granted(pid()))  # its other spelling
    if same_batch:
        outcomes = ledger.submit_many([first, reused, aliased])
    else:
        outcomes = [ledger.submit_many([tx])[0] for tx in (first, reused, aliased)]
    assert outcomes[0].error is None
    assert outcomes[0].position == 0
    for outcome in outcomes[1:]:
        assert outcome.error is not None
        assert outcome.error.code == "transaction_id_reused"
        assert (outcome.position, outcome.result) == (None, None)
    assert ledger.size() == 1
    retried = ledger.submit_many([first])[0]  # the same signed transaction: a retry
    assert (retried.error, retried.position) == (None, 0)
    assert retried.result == outcomes[0].result
    assert ledger.size() == 1
