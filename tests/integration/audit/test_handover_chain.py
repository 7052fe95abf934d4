"""The offline chain check on hand-overs: only the sender, only while the referral is open.

The forged events are validly signed by consortium members; what gives them away
is who signed them and when, judged from the chain alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.client import OrgClient
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.identity import sign_low_s
from ledger_gw.transaction import SignedTransaction
from ledger_gw.workspace import Workspace
from tests.support import events as ev

Bundle = dict[str, Any]
PACKAGE_HASH = "ab" * 32


@dataclass
class Ledger:
    ws: Workspace
    ledger: EmbeddedLedger
    open_referral: str
    closed_referral: str


@pytest.fixture(scope="module")
def handed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path = tmp_path_factory.mktemp("handover-chain")
    ws = Workspace.create(path / "ws", DEMO)
    ledger = EmbeddedLedger(f"sqlite:///{path / 'ledger.db'}", ws.consortium, ws.log_signer())
    a, b = (OrgClient(ledger, ws.signer(o)) for o in ("AGENCY-A", "AGENCY-B"))
    person = ev.pid()
    consent = ev.consent_granted(person)
    still_open = ev.referral_created(person, consent_id=consent["consent_id"])
    closed = ev.referral_created(person, consent_id=consent["consent_id"])
    for who, event in [
        (a, consent),
        (a, still_open),
        (a, _handed_over(still_open["referral_id"])),
        (a, closed),
        (a, _handed_over(closed["referral_id"])),
        (b, ev.referral_step("accepted", closed["referral_id"])),
        (b, ev.referral_step("completed", closed["referral_id"])),
    ]:
        who.submit(event)
    yield Ledger(ws, ledger, still_open["referral_id"], closed["referral_id"])
    ledger.close()


def _handed_over(referral_id: str) -> dict[str, Any]:
    return {
        "event_id": ev.uid(),
        "type": "referral.handed_over",
        "referral_id": referral_id,
        "document_hash": PACKAGE_HASH,
    }


def _bundle(handed: Ledger, referral_id: str) -> Bundle:
    log = EmbeddedLog.of(handed.ledger)
    return build_bundle(log, handed.ws.consortium, kind="referral_chain", subject=referral_id)


def _slip_in(handed: Ledger, bundle: Bundle, org: str, referral_id: str) -> Bundle:
    """Append a hand-over validly signed by ``org`` that the ledger never accepted."""
    forged_bundle = copy.deepcopy(bundle)
    event = _handed_over(referral_id)
    signer = handed.ws.signer(org)
    entries = forged_bundle["evidence"]["entries"]
    proposal = {**entries[0]["entry"]["tx"]["proposal"], "creator": signer.cert_pem}
    tx = SignedTransaction.from_dict({"proposal": {**proposal, "args": [event]}, "signature": ""})
    tx = SignedTransaction(tx.proposal, sign_low_s(signer.key, tx.proposal.payload))
    result = {"referral_id": referral_id, "document_hash": PACKAGE_HASH}
    entries.append(
        {
            "index": entries[-1]["index"],
            "entry": {"tx": tx.to_dict(), "result": result, "effects": "0" * 64},
            "proof": entries[-1]["proof"],
        }
    )
    forged_bundle["claim"]["events"].append(event["event_id"])
    return forged_bundle


def _verify(handed: Ledger, bundle: Bundle) -> Any:
    return verify_bundle(bundle, trusted_consortium=handed.ws.consortium, quorum=0)


def test_the_senders_hand_over_while_open_passes(handed: Ledger) -> None:
    for rid in (handed.open_referral, handed.closed_referral):
        report = _verify(handed, _bundle(handed, rid))
        assert report.ok, report.failures
        over = [s for s in report.steps if s.type == "referral.handed_over"]
        assert len(over) == 1
        assert over[0].ok
        assert over[0].org == "AGENCY-A"
        assert (over[0].state_before, over[0].state_after) == ("created", "created")


def test_a_hand_over_recorded_by_the_receiver_fails(handed: Ledger) -> None:
    bundle = _slip_in(
        handed, _bundle(handed, handed.open_referral), "AGENCY-B", handed.open_referral
    )
    report = _verify(handed, bundle)
    assert "wrong_actor" in report.codes
    assert "illegal_transition" not in report.codes  # the referral is still open
    assert "bad_signature" not in report.codes
    forged = report.steps[-1]
    assert forged.type == "referral.handed_over"
    assert not forged.ok
    assert "only the sender AGENCY-A may record a hand-over, not AGENCY-B" in " ".join(
        forged.reasons
    )


def test_a_hand_over_after_the_referral_closed_fails(handed: Ledger) -> None:
    rid = handed.closed_referral
    report = _verify(handed, _slip_in(handed, _bundle(handed, rid), "AGENCY-A", rid))
    assert "illegal_transition" in report.codes
    assert "wrong_actor" not in report.codes  # the sender signed it
    assert "bad_signature" not in report.codes
    forged = report.steps[-1]
    assert not forged.ok
    assert "a hand-over recorded after the referral was completed" in " ".join(forged.reasons)
