"""The outbox against a real embedded ledger (its contract, signatures and clock window):
events whose order matters, answers lost mid-sync, and the gateway's own key rotated
while events wait."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ledger_gw.bootstrap import embedded_ledger
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.errors import UnavailableError
from ledger_gw.interfaces import Outcome
from ledger_gw.log.entry import Entry
from ledger_gw.remote.outbox import RESIGN_AFTER, Outbox
from ledger_gw.transaction import SignedTransaction, format_time, sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", DEMO)


@pytest.fixture
def ledger(ws: Workspace) -> Iterator[EmbeddedLedger]:
    made = embedded_ledger(ws)
    try:
        yield made
    finally:
        made.close()


def _logged(ledger: EmbeddedLedger) -> list[SignedTransaction]:
    """Every transaction in the ledger's log, in order."""
    certificates = ledger.log.certificates()
    return [
        SignedTransaction.of_entry(Entry.from_bytes(data), certificates)
        for _, data in ledger.log.entries()
    ]


def _logged_ids(ledger: EmbeddedLedger) -> list[str]:
    return [str(tx.proposal.args[0]["event_id"]) for tx in _logged(ledger)]


def test_a_refused_grant_refuses_its_delivery_cleanly_and_in_order(
    ws: Workspace, ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    """Grant then delivery, queued: logged in that order. A delivery beyond the amount,
    and a grant refused on sync with the delivery that needed it, are set aside with
    the contract's codes; the events after them go on."""
    signer = ws.signer("AGENCY-A")
    box = Outbox(tmp_path / "o.db", signer)
    person = ev.pid()
    grant = ev.entitlement_granted(person)
    paid = ev.delivery(grant["entitlement_id"], "100")
    over = ev.delivery(grant["entitlement_id"], "100")  # 200 of 150
    stray = ev.entitlement_granted(ev.pid(), continues_entitlement_id=ev.uid())
    orphan = ev.delivery(stray["entitlement_id"])
    last = ev.delivery(grant["entitlement_id"], "50")
    events = [grant, paid, over, stray, orphan, last]
    box.capture([sign_proposal(signer, "submit", [e]) for e in events])
    assert box.sync(ledger.submit_many) == 6
    assert _logged_ids(ledger) == [e["event_id"] for e in (grant, paid, last)]
    failed = {i.event_id: i.error for i in box.items(state="failed")}
    assert {k: (v or {}).get("code") for k, v in failed.items()} == {
        over["event_id"]: "exceeds_entitlement",
        stray["event_id"]: "entitlement_not_found",
        orphan["event_id"]: "entitlement_not_found",
    }
    assert box.pending() == 0


def test_an_answer_lost_after_a_resign_appends_once(
    ws: Workspace, ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    """An hours-old capture is signed again and appended, and the answer is lost (the
    gateway killed before it settled the item): the next sync hands over the very
    transaction it kept, which replays instead of logging the event twice."""
    signer = ws.signer("AGENCY-A")
    box = Outbox(tmp_path / "o.db", signer)
    event = ev.independent(1)
    hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=6)
    box.capture([sign_proposal(signer, "submit", [event], clock=lambda: hours_ago)])
    handed: list[str] = []

    def lost(txs: Sequence[SignedTransaction]) -> list[Outcome]:
        handed.extend(t.tx_id for t in txs)
        ledger.submit_many(txs)
        raise UnavailableError("the answer was cut short", code="log_node_unreachable")

    def node(txs: Sequence[SignedTransaction]) -> list[Outcome]:
        handed.extend(t.tx_id for t in txs)
        return ledger.submit_many(txs)

    with pytest.raises(UnavailableError):
        box.sync(lost)
    assert box.sync(node) == 1
    first, second = handed  # signed again once, then kept
    assert first == second
    assert list(box.items()) == []
    (logged,) = _logged(ledger)
    assert logged.tx_id == first
    assert logged.proposal.args[0]["captured_at"] == format_time(hours_ago)


def test_events_waiting_across_the_gateways_key_rotation_are_logged(
    ws: Workspace, ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    """Captured just before the agency rotated its key (a lost device, say) and the
    gateway restarted with the new one: the events are the agency's still, and are
    logged, never marked refused for a signature the gateway itself retired."""
    old = ws.signer("AGENCY-A")
    path = tmp_path / "o.db"
    events = [ev.independent(i) for i in range(3)]
    Outbox(path, old).capture([sign_proposal(old, "submit", [e]) for e in events])
    rotated = ws.rotate_key("AGENCY-A")
    box = Outbox(path, rotated.signer("AGENCY-A"))  # the gateway, restarted
    assert box.sync(ledger.submit_many) == 3
    assert [(i.event_id, i.error) for i in box.items()] == []
    assert _logged_ids(ledger) == [e["event_id"] for e in events]


def test_an_item_signed_under_the_window_is_not_signed_again(
    ws: Workspace, ledger: EmbeddedLedger, tmp_path: Path
) -> None:
    """A recent capture by the key in force goes out as it was kept: the same
    transaction ID the caller was answered with."""
    signer = ws.signer("AGENCY-A")
    box = Outbox(tmp_path / "o.db", signer)
    recent = dt.datetime.now(dt.UTC) - RESIGN_AFTER / 2
    (tx,) = [sign_proposal(signer, "submit", [ev.independent(0)], clock=lambda: recent)]
    (queued,) = box.capture([tx])
    assert box.sync(ledger.submit_many) == 1
    (logged,) = _logged(ledger)
    assert logged.tx_id == queued.tx_id == tx.tx_id
