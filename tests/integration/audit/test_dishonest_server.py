"""A dishonest log operator runs a laxer contract than the consortium's: it appends a
member's signed event the contract refuses, with the result the laxer rules give, into
a Merkle tree the witnesses cosign (they see only the tree). Every signature and proof
then checks out: the offline verifier, replaying the contract's rules over the signed
events the bundle holds, must still refuse what the contract would have refused, with
its code; an honest log's bundle of the same events verifies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chaincode import contract, entitlements, referrals
from chaincode.schemas import Event
from chaincode.store import Obj, Tx
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.verify import BundleReport, verify_bundle
from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.embedded.witnessing import Cosigner, endpoints
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.witnesses import TestWitnesses

Handler = Callable[[Tx, Event], tuple[str, Obj]]


def _deliver_any_day(tx: Tx, event: Event) -> tuple[str, Obj]:
    """Delivery on any day: judged as if it fell on the entitlement's first."""
    granted = entitlements.load(tx, event["entitlement_id"])
    return entitlements.deliver(tx, {**event, "date": granted["start"]})


def _hand_over_without_consent(tx: Tx, event: Event) -> tuple[str, Obj]:
    """A hand-over by the sender of an open referral, whatever consent it cites."""
    referral = referrals.load(tx, event["referral_id"])
    result = {"referral_id": referral["referral_id"], "document_hash": event["document_hash"]}
    return referral["pid"], result


def _revoke_logged_as_suspended(tx: Tx, event: Event) -> tuple[str, Obj]:
    """The contract's revocation, its logged result saying the entitlement is only
    suspended (so resumable, a reader of the log would think)."""
    pid, result = entitlements.transition(tx, event)
    return pid, {**result, "state": "suspended"}


class Operator:
    """One ledger whose operator may swap the contract's rules for laxer ones."""

    def __init__(self, ws: Workspace, witnesses: TestWitnesses, path: Path) -> None:
        self.ws = ws
        self.ledger = EmbeddedLedger(f"sqlite:///{path}", ws.consortium, ws.log_signer())
        witnesses.forget()  # a new log to them

    def client(self, org: str) -> OrgClient:
        return OrgClient(self.ledger, self.ws.signer(org))

    def cosign(self) -> None:
        """Two witnesses (the quorum) cosign the tree as it stands: all they ever see."""
        asked = [w for w in endpoints(self.ws.consortium) if w.org_id in ("AGENCY-A", "AGENCY-B")]
        Cosigner(self.ledger.engine, self.ws.consortium).ask(asked, None)

    def bundle(self, kind: str, subject: str | None = None, tx_ids: tuple[str, ...] = ()) -> Any:
        log = EmbeddedLog.of(self.ledger)
        return build_bundle(log, self.ws.consortium, kind=kind, subject=subject, tx_ids=tx_ids)

    def verify(self, bundle: Any) -> BundleReport:
        return verify_bundle(bundle, trusted_consortium=self.ws.consortium)


@pytest.fixture
def operator(
    audit_ws: Workspace, audit_witnesses: TestWitnesses, tmp_path: Path
) -> Iterator[Operator]:
    running = Operator(audit_ws, audit_witnesses, tmp_path / "ledger.db")
    yield running
    running.ledger.close()


def _lax(monkeypatch: pytest.MonkeyPatch, event_type: str, handler: Handler) -> None:
    monkeypatch.setitem(contract.HANDLERS, event_type, handler)


def test_a_delivery_outside_the_entitlements_period_is_refused(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = operator.client("AGENCY-A")
    grant = ev.entitlement_granted(ev.pid(), amount="300")
    a.submit(grant)
    a.submit(ev.delivery(grant["entitlement_id"], "100"))  # on a day of its period
    _lax(monkeypatch, "assistance.delivered", _deliver_any_day)
    before = f"{int(ev.PERIOD[0][:4]) - 5}-06-01"
    a.submit(ev.delivery(grant["entitlement_id"], "50", date=before))
    operator.cosign()
    report = operator.verify(operator.bundle("entitlement", grant["entitlement_id"]))
    assert report.codes == {"illegal_transition"}, report.failures
    (failure,) = report.failures
    assert failure.position == 2
    assert "period" in failure.message


def test_a_hand_over_of_a_referral_citing_no_consent_is_refused(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = operator.client("AGENCY-A"), operator.client("AGENCY-B")
    person = ev.pid()
    consent = ev.consent_granted(person)
    a.submit(consent)
    cited = ev.referral_created(person, consent_id=consent["consent_id"])
    bare = ev.referral_created(person)
    for referral in (cited, bare):
        a.submit(referral)
        b.submit(ev.referral_step("accepted", referral["referral_id"]))
    _lax(monkeypatch, "referral.handed_over", _hand_over_without_consent)
    for referral in (cited, bare):
        a.submit(
            {
                "event_id": ev.uid(),
                "type": "referral.handed_over",
                "referral_id": referral["referral_id"],
                "document_hash": ev.DOC_HASH,
            }
        )
    operator.cosign()
    assert operator.verify(operator.bundle("referral_chain", cited["referral_id"])).ok
    report = operator.verify(operator.bundle("referral_chain", bare["referral_id"]))
    assert report.codes == {"illegal_transition"}, report.failures
    (step,) = [s for s in report.steps if not s.ok]
    assert step.type == "referral.handed_over"
    assert "consent" in step.reasons[0]


def test_a_hand_over_without_its_referral_is_a_missing_link(operator: Operator) -> None:
    """A bundle of chosen transactions may hold a hand-over and not the referral's
    creation: its origin is missing, as for any other step of the referral."""
    a, b = operator.client("AGENCY-A"), operator.client("AGENCY-B")
    person = ev.pid()
    consent = ev.consent_granted(person)
    referral = ev.referral_created(person, consent_id=consent["consent_id"])
    a.submit(consent)
    a.submit(referral)
    accepted = b.submit(ev.referral_step("accepted", referral["referral_id"]))
    handed = a.submit(
        {
            "event_id": ev.uid(),
            "type": "referral.handed_over",
            "referral_id": referral["referral_id"],
            "document_hash": ev.DOC_HASH,
        }
    )
    operator.cosign()
    report = operator.verify(operator.bundle("events", tx_ids=(accepted["tx_id"], handed["tx_id"])))
    assert report.codes == {"missing_link"}, report.failures
    assert [s.reasons for s in report.steps] == [
        [f"transition: referral.accepted on referral {referral['referral_id']} "
         "whose creation is not in the bundle"],
        [f"transition: referral.handed_over on referral {referral['referral_id']} "
         "whose creation is not in the bundle"],
    ]  # fmt: skip


def test_an_entitlement_transition_logged_with_another_state_is_refused(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = operator.client("AGENCY-A")
    grant = ev.entitlement_granted(ev.pid())
    a.submit(grant)
    eid = grant["entitlement_id"]
    a.submit({"event_id": ev.uid(), "type": "entitlement.suspended", "entitlement_id": eid,
              "reason": "error"})  # fmt: skip
    _lax(monkeypatch, "entitlement.revoked", _revoke_logged_as_suspended)
    a.submit({"event_id": ev.uid(), "type": "entitlement.revoked", "entitlement_id": eid,
              "reason": "ineligible"})  # fmt: skip
    operator.cosign()
    report = operator.verify(operator.bundle("entitlement", eid))
    assert report.codes == {"result_mismatch"}, report.failures
    (failure,) = report.failures
    assert failure.position == 2
    assert "'suspended'" in failure.message
    assert "revoked" in failure.message
