"""The outbox on its own: order, the clock window, refusals kept, faults retried."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest

from ledger_gw.demo.consortium import DEMO
from ledger_gw.errors import CONTRACT_FAILURE, ConflictError, InternalError, UnavailableError
from ledger_gw.interfaces import Outcome
from ledger_gw.remote.outbox import RESIGN_AFTER, Outbox
from ledger_gw.transaction import SignedTransaction, format_time, sign_proposal
from ledger_gw.workspace import Workspace
from tests.support import events as ev

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.create(tmp_path_factory.mktemp("ws"), DEMO)


def _signed(ws: Workspace, at: dt.datetime, n: int) -> list[SignedTransaction]:
    signer = ws.signer("AGENCY-A")
    return [
        sign_proposal(signer, "submit", [ev.independent(i)], clock=lambda: at) for i in range(n)
    ]


class Node:
    """Records what it is handed; answers with the outcomes it is told to."""

    def __init__(self) -> None:
        self.seen: list[SignedTransaction] = []
        self.refuse: set[str] = set()
        self.crash: set[str] = set()  # the contract fails on these
        self.down = False
        self.failing = False  # the node's storage fails each transaction
        self.code = "ledger_unavailable"  # with this code

    def __call__(self, txs: Sequence[SignedTransaction]) -> list[Outcome]:
        if self.down:
            raise UnavailableError("down", code="log_node_unreachable")
        self.seen.extend(txs)
        return [self._outcome(t) for t in txs]

    def _outcome(self, tx: SignedTransaction) -> Outcome:
        if self.failing:
            return Outcome(tx.tx_id, None, UnavailableError("ledger write failed", code=self.code))
        if tx.tx_id in self.crash:
            return Outcome(tx.tx_id, None, InternalError("crashed", code=CONTRACT_FAILURE))
        if tx.tx_id in self.refuse:
            return Outcome(tx.tx_id, None, ConflictError("no", code="x"))
        return Outcome(tx.tx_id, {}, None, len(self.seen))


def test_synced_in_capture_order_and_kept_while_down(workspace: Workspace, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", workspace.signer("AGENCY-A"), clock=lambda: NOW)
    txs = _signed(workspace, NOW, 5)
    answered = box.capture(txs)
    assert all(o.queued and o.position is None for o in answered)
    node = Node()
    node.down = True
    with pytest.raises(UnavailableError):
        box.sync(node)
    assert box.pending() == 5
    node.down = False
    assert box.sync(node) == 5
    assert [t.tx_id for t in node.seen] == [t.tx_id for t in txs]  # the same, in order
    assert list(box.items()) == []


def test_a_refusal_stays_failed_and_later_items_go_on(workspace: Workspace, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", workspace.signer("AGENCY-A"), clock=lambda: NOW)
    txs = _signed(workspace, NOW, 3)
    box.capture(txs)
    node = Node()
    node.refuse = {txs[1].tx_id}
    box.sync(node)
    (failed,) = box.items()
    assert (failed.tx.tx_id, failed.state, failed.error["code"]) == (txs[1].tx_id, "failed", "x")
    assert box.sync(node) == 0  # never handed over again
    assert len(node.seen) == 3


def test_an_item_the_contract_fails_on_holds_none_back(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A contract bug on one event would fail it on every sync: it is set aside as failed,
    for its caller to see, and the events captured after it are logged."""
    box = Outbox(tmp_path / "o.db", workspace.signer("AGENCY-A"), clock=lambda: NOW)
    txs = _signed(workspace, NOW, 3)
    box.capture(txs)
    node = Node()
    node.crash = {txs[0].tx_id}
    assert box.sync(node) == 3
    (failed,) = box.items()
    assert (failed.tx.tx_id, failed.state) == (txs[0].tx_id, "failed")
    assert failed.error is not None
    assert (failed.error["kind"], failed.error["code"]) == ("internal", CONTRACT_FAILURE)
    assert box.sync(node) == 0  # never handed over again
    assert [t.tx_id for t in node.seen] == [t.tx_id for t in txs]


@pytest.mark.parametrize("code", ["ledger_unavailable", CONTRACT_FAILURE])
def test_a_fault_of_the_node_keeps_every_item_for_the_next_sync(
    workspace: Workspace, tmp_path: Path, code: str
) -> None:
    """Whatever its code: only the contract's failure on an item sets the item aside."""
    box = Outbox(tmp_path / "o.db", workspace.signer("AGENCY-A"), clock=lambda: NOW)
    txs = _signed(workspace, NOW, 3)
    box.capture(txs)
    node = Node()
    node.failing = True
    node.code = code
    with pytest.raises(UnavailableError):
        box.sync(node)
    assert [(i.tx.tx_id, i.state) for i in box.items()] == [(t.tx_id, "pending") for t in txs]
    node.failing = False
    assert box.sync(node) == 3
    assert list(box.items()) == []


def test_only_a_failed_item_can_be_dismissed(workspace: Workspace, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", workspace.signer("AGENCY-A"), clock=lambda: NOW)
    txs = _signed(workspace, NOW, 3)
    box.capture(txs)
    first, second, _ = box.items()
    assert not box.dismiss(second.seq)  # pending: it will be logged
    node = Node()
    node.down = True
    node.refuse = {txs[1].tx_id}
    with pytest.raises(UnavailableError):
        box.sync(node)
    node.down = False
    box.sync(node)
    assert [(i.seq, i.state) for i in box.items()] == [(second.seq, "failed")]
    assert not box.dismiss(first.seq)  # logged: no longer there
    assert box.dismiss(second.seq)
    assert list(box.items()) == []
    assert box.item(second.seq) is None
    assert not box.dismiss(second.seq)
    for beyond in (-1, 2**63, 10**30):  # no such item, nor any SQLite integer
        assert box.item(beyond) is None
        assert not box.dismiss(beyond)


def test_an_item_older_than_the_window_is_signed_again_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    day_ago = NOW - dt.timedelta(days=1)
    box = Outbox(tmp_path / "o.db", workspace.signer("AGENCY-A"), clock=lambda: NOW)
    (old,) = _signed(workspace, day_ago, 1)
    box.capture([old])
    node = Node()
    node.down = True
    with pytest.raises(UnavailableError):
        box.sync(node)
    (kept,) = box.items()
    assert kept.tx.proposal.time == NOW  # signed again, and kept before it was sent
    assert kept.tx.proposal.args[0] == {**old.proposal.args[0], "captured_at": format_time(day_ago)}
    node.down = False
    box.sync(node)
    assert [t.tx_id for t in node.seen] == [kept.tx.tx_id]  # its retry is the same one


def test_an_item_signed_again_keeps_the_capture_time_its_client_gave(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A field app's event, captured a month before it reached the gateway, waits in the
    outbox past the window: signed again, it still says when it happened."""
    month_ago = format_time(NOW - dt.timedelta(days=30))
    event = {**ev.independent(0), "captured_at": month_ago}
    signer = workspace.signer("AGENCY-A")
    box = Outbox(tmp_path / "o.db", signer, clock=lambda: NOW)
    box.capture([sign_proposal(signer, "submit", [event], clock=lambda: NOW - RESIGN_AFTER)])
    node = Node()
    box.sync(node)
    (sent,) = node.seen
    assert sent.proposal.time == NOW
    assert sent.proposal.args[0] == event


def test_read_from_where_a_page_ended_all_or_of_one_state(
    workspace: Workspace, tmp_path: Path
) -> None:
    """An outbox that waited days for its node is read a page at a time, from the item a
    page ended on: several reads of rows apart, nothing skipped or repeated."""
    box = Outbox(tmp_path / "o.db", workspace.signer("AGENCY-A"), clock=lambda: NOW)
    txs = _signed(workspace, NOW, 150)
    box.capture(txs)
    node = Node()
    node.refuse = {txs[i].tx_id for i in (3, 70, 149)}
    box.sync(node)
    box.capture(_signed(workspace, NOW, 140))
    failed = [i.seq for i in box.items(state="failed")]
    assert failed == [4, 71, 150]
    every = [(i.seq, i.state) for i in box.items()]
    assert every == [(s, "failed") for s in failed] + [(s, "pending") for s in range(151, 291)]
    assert [i.seq for i in box.items(after=71, state="failed")] == [150]
    assert [i.seq for i in box.items(after=200)] == list(range(201, 291))
    assert [i.seq for i in box.items(state="pending")][:2] == [151, 152]
    assert [i.seq for i in box.items(after=-5)] == [s for s, _ in every]
    assert list(box.items(after=1 << 64)) == []  # beyond SQLite's integers: nothing, no error
    assert box.counts() == {"pending": 140, "failed": 3}
    assert Outbox(tmp_path / "empty.db", workspace.signer("AGENCY-A")).counts() == {
        "pending": 0,
        "failed": 0,
    }


def test_a_full_outbox_refuses_and_keeps_nothing_of_what_it_refused(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node down for long, or a writer flooding, fills no disk: past its most, events
    are refused (send again later), whole batches alike; room made by a sync is taken."""
    monkeypatch.setattr("ledger_gw.remote.outbox.MAX_ITEMS", 3)
    outbox = Outbox(tmp_path / "outbox.db", workspace.signer("AGENCY-A"), clock=lambda: NOW)
    txs = _signed(workspace, NOW, 5)
    try:
        outbox.capture(txs[:2])
        with pytest.raises(UnavailableError) as full:
            outbox.capture(txs[2:4])  # 4 > 3: neither is kept
        assert full.value.code == "outbox_full"
        assert outbox.counts() == {"pending": 2, "failed": 0}
        outbox.capture(txs[2:3])
        with pytest.raises(UnavailableError):
            outbox.capture(txs[3:4])
        node = Node()
        outbox.sync(node)
        assert [t.tx_id for t in node.seen] == [t.tx_id for t in txs[:3]]
        outbox.capture(txs[3:5])
        assert outbox.counts() == {"pending": 2, "failed": 0}
    finally:
        outbox.close()
