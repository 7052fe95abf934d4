"""Offline bundles: a good one verifies; every kind of tampering fails with its own code."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import verify_bundle
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import AuditError
from ledger_gw.identity import cert_pem, issue_ca, issue_member, sign_low_s
from ledger_gw.log.note import Note, NoteSignature
from ledger_gw.transaction import SignedTransaction
from ledger_gw.workspace import Workspace
from tests.integration.audit.conftest import DOCUMENT, SALT, Scenario
from tests.support import events as ev

Bundle = dict[str, Any]


@pytest.fixture(scope="module")
def chain_bundle(scenario: Scenario) -> Bundle:
    return build_bundle(
        EmbeddedLog.of(scenario.ledger),
        scenario.ws.consortium,
        kind="referral_chain",
        subject=scenario.onward_referral,
    )


@pytest.fixture(scope="module")
def ent_bundle(scenario: Scenario) -> Bundle:
    return build_bundle(
        EmbeddedLog.of(scenario.ledger),
        scenario.ws.consortium,
        kind="entitlement",
        subject=scenario.entitlement,
    )


def _entry(bundle: Bundle, event_type: str, nth: int = 0) -> dict[str, Any]:
    found = [
        e
        for e in bundle["evidence"]["entries"]
        if e["entry"]["tx"]["proposal"]["args"][0]["type"] == event_type
    ]
    return found[nth]  # type: ignore[no-any-return]


def test_good_chain_bundle_verifies_against_pinned_consortium(
    scenario: Scenario, chain_bundle: Bundle
) -> None:
    report = verify_bundle(
        json.dumps(chain_bundle).encode(),
        trusted_consortium=scenario.ws.consortium,
        quorum=2,
        documents={scenario.root_referral: (DOCUMENT, SALT)},
    )
    assert report.ok, report.failures
    assert report.trust_anchor == "pinned"
    assert report.anchor["tree_size"] == scenario.ledger.size()
    assert len(report.anchor["witnesses"]) == 2
    assert [s.type for s in report.steps] == [
        "referral.created",
        "referral.accepted",
        "referral.created",
        "referral.accepted",
        "referral.completed",
        "referral.completed",
    ]
    assert all(s.ok for s in report.steps)
    names = {c.name for c in report.steps[0].checks}
    assert names == {"signature", "inclusion", "actor", "transition", "result", "document_hash"}


def test_good_entitlement_bundle_verifies(scenario: Scenario, ent_bundle: Bundle) -> None:
    report = verify_bundle(ent_bundle, trusted_consortium=scenario.ws.consortium)
    assert report.ok, report.failures
    assert report.trust_anchor == "pinned"
    assert len(report.events) == 3


def test_quorum_not_met(scenario: Scenario, chain_bundle: Bundle) -> None:
    assert (
        "quorum_not_met"
        in verify_bundle(chain_bundle, trusted_consortium=scenario.ws.consortium, quorum=3).codes
    )


def test_a_demanded_quorum_is_never_lowered(scenario: Scenario, chain_bundle: Bundle) -> None:
    """An auditor who pins a consortium listing fewer witnesses than she demands is told
    the quorum is not met; her demand is not cut down to what the file lists."""
    listed = scenario.ws.consortium
    unwitnessed = replace(
        listed,
        organisations={
            org_id: replace(o, witness_vkey=None, witness_url=None)
            for org_id, o in listed.organisations.items()
        },
        witness_quorum=0,
    )
    for consortium, demanded in ((unwitnessed, 1), (listed, len(listed.witness_keys()) + 1)):
        report = verify_bundle(chain_bundle, trusted_consortium=consortium, quorum=demanded)
        assert not report.ok
        assert any("quorum" in f.message for f in report.failures), report.failures


def test_changed_amount(scenario: Scenario, ent_bundle: Bundle) -> None:
    bundle = copy.deepcopy(ent_bundle)
    _entry(bundle, "assistance.delivered")["entry"]["tx"]["proposal"]["args"][0]["amount"] = "10"
    codes = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes
    assert {"bad_signature", "not_included", "amount_mismatch"} <= codes


def test_changed_result_amount(scenario: Scenario, ent_bundle: Bundle) -> None:
    bundle = copy.deepcopy(ent_bundle)
    _entry(bundle, "assistance.delivered")["entry"]["result"]["delivered"] = "1000"
    assert verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes == {
        "not_included",
        "amount_mismatch",
    }


def test_a_second_grant_of_the_same_entitlement_is_flagged(
    scenario: Scenario, ent_bundle: Bundle
) -> None:
    """The contract refuses it; an operator who logs it anyway must not reset the sums the
    deliveries are checked against."""
    bundle = copy.deepcopy(ent_bundle)
    entries = bundle["evidence"]["entries"]
    again = copy.deepcopy(_entry(bundle, "entitlement.granted"))
    again["entry"]["tx"]["proposal"]["args"][0]["event_id"] = str(uuid.uuid4())
    again["index"] = max(e["index"] for e in entries) + 1
    entries.append(again)
    report = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium)
    assert any("granted twice" in f.message for f in report.failures), report.failures


@pytest.mark.parametrize("amount", ["sNaN", "NaN", "-Infinity", "1e999999", 12, None])
def test_a_result_amount_that_is_no_amount_fails_the_check(
    scenario: Scenario, ent_bundle: Bundle, amount: object
) -> None:
    """Not a crash in the verifier's arithmetic: the sums do not match."""
    bundle = copy.deepcopy(ent_bundle)
    _entry(bundle, "assistance.delivered")["entry"]["result"]["delivered"] = amount
    codes = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes
    assert "amount_mismatch" in codes


def test_a_carried_consortium_with_a_witness_url_that_is_no_url_fails_the_check(
    scenario: Scenario, chain_bundle: Bundle
) -> None:
    bundle = copy.deepcopy(chain_bundle)
    for org in bundle["consortium"]["organisations"]:
        org["witness_url"] = "http://[not-an-address"
    report = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium)
    assert "consortium_mismatch" in report.codes


def test_a_certificate_whose_subject_does_not_parse_is_refused(
    scenario: Scenario, chain_bundle: Bundle
) -> None:
    """The subject is parsed when first read: bytes that are no UTF-8 in its O= fail
    there, after the certificate itself loaded."""
    signer = scenario.ws.signer("AGENCY-B")
    der = x509.load_pem_x509_certificate(signer.cert_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    at = der.rfind(b"AGENCY-B")
    broken = der[:at] + b"\xff" * 8 + der[at + 8 :]
    bundle = copy.deepcopy(chain_bundle)
    pem = cert_pem(x509.load_der_x509_certificate(broken))
    _entry(bundle, "referral.accepted")["entry"]["tx"]["proposal"]["creator"] = pem
    report = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium)
    assert not report.ok
    assert "bad_certificate" in report.codes, report.codes


def test_dropped_event(scenario: Scenario, chain_bundle: Bundle) -> None:
    bundle = copy.deepcopy(chain_bundle)
    bundle["evidence"]["entries"].remove(_entry(bundle, "referral.accepted", 1))
    codes = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes
    assert "missing_event" in codes
    assert "illegal_transition" in codes  # completed straight from created


def test_dropped_link_with_claim_rewritten(scenario: Scenario, chain_bundle: Bundle) -> None:
    """A server hiding the parent referral entirely, claim included: the link is missing."""
    bundle = copy.deepcopy(chain_bundle)
    parent = _entry(bundle, "referral.created", 0)
    bundle["evidence"]["entries"].remove(parent)
    event_id = parent["entry"]["tx"]["proposal"]["args"][0]["event_id"]
    bundle["claim"]["events"].remove(event_id)
    assert "missing_link" in verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes


def test_swapped_proof_node(scenario: Scenario, chain_bundle: Bundle) -> None:
    bundle = copy.deepcopy(chain_bundle)
    entry = next(e for e in bundle["evidence"]["entries"] if len(e["proof"]) >= 2)
    entry["proof"][0], entry["proof"][1] = entry["proof"][1], entry["proof"][0]
    report = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium)
    assert report.codes == {"not_included"}
    assert report.failures[0].position == entry["index"]


def test_forged_cosignature(scenario: Scenario, chain_bundle: Bundle) -> None:
    bundle = copy.deepcopy(chain_bundle)
    note = Note.parse(bundle["evidence"]["checkpoint"])
    log_sig, cosig, *rest = note.signatures
    flipped = bytes([cosig.signature[-1] ^ 0x01])  # always a different signature
    forged = NoteSignature(cosig.name, cosig.key_id, cosig.signature[:-1] + flipped)
    bundle["evidence"]["checkpoint"] = Note(note.text, (log_sig, forged, *rest)).format()
    assert verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes == {
        "bad_cosignature"
    }


def test_stale_checkpoint_older_than_entries(scenario: Scenario, chain_bundle: Bundle) -> None:
    bundle = copy.deepcopy(chain_bundle)
    bundle["evidence"]["checkpoint"] = scenario.ledger.log.checkpoint(5)
    report = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium, quorum=0)
    assert "stale_checkpoint" in report.codes
    assert any("predates log position" in f.message for f in report.failures)


def test_stale_checkpoint_against_auditor_minimum(scenario: Scenario) -> None:
    old = build_bundle(
        EmbeddedLog.of(scenario.ledger),
        scenario.ws.consortium,
        kind="referral_chain",
        subject=scenario.root_referral,
        size=6,
    )
    assert verify_bundle(old, trusted_consortium=scenario.ws.consortium, quorum=0).ok
    report = verify_bundle(
        old,
        trusted_consortium=scenario.ws.consortium,
        quorum=0,
        min_tree_size=scenario.ledger.size(),
    )
    assert report.codes == {"stale_checkpoint"}


def test_wrong_certificate(scenario: Scenario, chain_bundle: Bundle) -> None:
    ca_key, ca_cert = issue_ca("AGENCY-B")  # a rogue CA claiming to be AGENCY-B's
    _, rogue = issue_member(ca_key, ca_cert, "AGENCY-B", "agency", "gateway.agency-b")
    bundle = copy.deepcopy(chain_bundle)
    _entry(bundle, "referral.accepted")["entry"]["tx"]["proposal"]["creator"] = cert_pem(rogue)
    assert (
        "untrusted_certificate"
        in verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes
    )


def test_tampered_signature(scenario: Scenario, chain_bundle: Bundle) -> None:
    bundle = copy.deepcopy(chain_bundle)
    tx = _entry(bundle, "referral.accepted")["entry"]["tx"]
    sig = bytearray(base64.b64decode(tx["signature"]))
    sig[-1] ^= 1
    tx["signature"] = base64.b64encode(bytes(sig)).decode()
    assert verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes == {
        "bad_signature",
        "not_included",
    }


def test_illegal_transition_inserted(scenario: Scenario, chain_bundle: Bundle) -> None:
    """A validly signed cancellation by the receiver after completion, slipped in."""
    bundle = copy.deepcopy(chain_bundle)
    cancel = ev.referral_step("cancelled", scenario.root_referral)
    signer = scenario.ws.signer("AGENCY-B")
    tx = SignedTransaction.from_dict(
        {
            "proposal": {
                **_entry(bundle, "referral.accepted")["entry"]["tx"]["proposal"],
                "creator": signer.cert_pem,
                "args": [cancel],
            },
            "signature": "",
        }
    )
    tx = SignedTransaction(tx.proposal, sign_low_s(signer.key, tx.proposal.payload))
    last = bundle["evidence"]["entries"][-1]
    forged = {
        "index": last["index"],
        "entry": {"tx": tx.to_dict(), "result": {}, "effects": "0" * 64},
        "proof": last["proof"],
    }
    bundle["evidence"]["entries"].append(forged)
    bundle["claim"]["events"].append(cancel["event_id"])
    codes = verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes
    assert {"illegal_transition", "wrong_actor", "not_included"} <= codes
    assert "bad_signature" not in codes


def test_pinned_consortium_differs(
    chain_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = Workspace.create(tmp_path_factory.mktemp("other") / "ws", DEMO)
    codes = verify_bundle(chain_bundle, trusted_consortium=other.consortium).codes
    assert "consortium_mismatch" in codes
    assert "bad_checkpoint" in codes  # the pinned log key did not sign it


def test_unknown_evidence_kind_is_an_extension_point(
    scenario: Scenario, chain_bundle: Bundle
) -> None:
    bundle = copy.deepcopy(chain_bundle)
    bundle["evidence"]["kind"] = "example/unknown-v1"
    assert verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes == {
        "unknown_evidence_kind"
    }
    # Fabric's kind is registered (lazily): Merkle evidence under its name is malformed
    bundle["evidence"]["kind"] = "fabric/blocks-v1"
    assert (
        "malformed_bundle" in verify_bundle(bundle, trusted_consortium=scenario.ws.consortium).codes
    )


def test_not_a_bundle(scenario: Scenario) -> None:
    with pytest.raises(AuditError):
        verify_bundle(b"{}", trusted_consortium=scenario.ws.consortium)
    with pytest.raises(AuditError):
        verify_bundle(b"not json", trusted_consortium=scenario.ws.consortium)
