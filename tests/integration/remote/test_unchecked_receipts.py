"""What a log node acknowledged or showed, and lets this gateway check only in part: a
check it stalls, a hand-over it logs out of order, a cosigned head it rolls back.

A node that dropped an acknowledged append, or answered "logged before" for an event it
never logged, need not show anything false: it can answer 503 to what the check reads,
and to its own /readyz, for as long as it likes. Past the deadline, what was never
checked is overdue whatever the cosigned head.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from ledger_gw.errors import IntegrityError, UnavailableError
from ledger_gw.remote.client import NodeClient
from ledger_gw.remote.ledger import RemoteLedger, RemoteLog
from ledger_gw.remote.outbox import Outbox
from ledger_gw.remote.receipts import Receipts
from ledger_gw.remote.wire import batch_from_dict, outcome_from_dict
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace
from tests.integration.remote.conftest import Site, _until
from tests.integration.remote.test_log_node import (
    _cosigned,
    _cosigned_size,
    _node_as,
    _remote,
    _submitted,
)
from tests.support import events as ev

pytestmark = pytest.mark.slow

DEADLINE_S = 60.0
TILES = "/v1/log/tile/"  # the node's hash tiles, the proofs made here read


class Stalling(NodeClient):
    """The node, answering 503 to the paths in ``stalled`` (a prefix ending in "/" stands
    for every path under it)."""

    stalled: frozenset[str] = frozenset()

    def _stalls(self, path: str) -> None:
        if any(path == s or (s.endswith("/") and path.startswith(s)) for s in self.stalled):
            raise UnavailableError("busy", code="log_node_unreachable")

    def get(self, path: str, **params: Any) -> Any:
        self._stalls(path)
        return super().get(path, **params)

    def get_bytes(self, path: str, **params: Any) -> bytes:
        self._stalls(path)
        return super().get_bytes(path, **params)


class Dropping(Stalling):
    """Acknowledges each transaction handed over at ``at`` (where its log holds another
    entry) and appends nothing."""

    at = 0

    def post(self, path: str, body: dict[str, Any]) -> Any:
        if path != "/v1/node/submit":
            return super().post(path, body)
        txs = batch_from_dict(body.get("creators"), body["transactions"])
        return {
            "outcomes": [
                {"tx_id": tx.tx_id, "result": {"status": "accepted"}, "position": self.at}
                for tx in txs
            ]
        }


def _covered_append(site: Site) -> int:
    """The position of an honest append of AGENCY-A's, once a cosigned checkpoint covers it."""
    node = _node_as(site.agencies["AGENCY-A"], site, NodeClient)
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    position = _submitted(node, sign_proposal(signer, "submit", [ev.independent(50)])).position
    assert position is not None
    _until(lambda: _cosigned(node) and _cosigned_size(node) > position, "cosigned past it")
    return int(position)


def _ledger(
    site: Site, tmp_path: Path, node: NodeClient, clock: Callable[[], float] = time.time
) -> RemoteLedger:
    """AGENCY-A's remote ledger through ``node``; no background round."""
    consortium = Workspace.load(site.agencies["AGENCY-A"].root).consortium
    receipts = Receipts(tmp_path / "r.db", consortium, node, deadline_s=DEADLINE_S, clock=clock)
    outbox = Outbox(tmp_path / "o.db", Workspace.load(site.operator).signer("AGENCY-A"))
    return RemoteLedger(node, consortium, receipts, outbox, interval_s=3600)


def _drop(site: Site, ledger: RemoteLedger, at: int) -> None:
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    (outcome,) = ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(51)])])
    assert (outcome.error, outcome.position) == (None, at)  # the caller is told: logged


def _replay_of_nothing(site: Site, ledger: RemoteLedger, at: int) -> None:
    signer = Workspace.load(site.operator).signer("AGENCY-A")
    tx = sign_proposal(signer, "submit", [ev.independent(52)])
    said = {"tx_id": tx.tx_id, "result": {"tx_id": "no-such-transaction"}, "position": None}
    ledger.receipts.record([tx], [outcome_from_dict(said)])


def _forked_leaf(site: Site, ledger: RemoteLedger, at: int) -> None:
    """As a query's answer proved against a checkpoint the log alone signed."""
    ledger.receipts.shown([("forked-transaction", at, b"\x07" * 32)])


STALLS: dict[str, tuple[Callable[[Site, RemoteLedger, int], None], frozenset[str], str]] = {
    "a dropped append, its entries stalled": (
        _drop,
        frozenset({"/v1/node/entries"}),
        "has not let it be checked under the cosigned checkpoint",
    ),
    "a replay of nothing, the original stalled": (
        _replay_of_nothing,
        frozenset({"/v1/node/inclusion"}),
        "has not shown that its log holds it",
    ),
    "a leaf a query's answer showed, the tiles stalled": (
        _forked_leaf,
        frozenset({TILES}),
        "has not let it be checked under the cosigned checkpoint",
    ),
}


@pytest.mark.parametrize("how", STALLS)
def test_what_the_node_stalls_the_check_of_is_overdue(site: Site, tmp_path: Path, how: str) -> None:
    """The node shows one cosigned head past what it acknowledged or showed, and then
    answers 503 to what the check reads and to its own /readyz: within the deadline that
    is only pending, past it the gateway is not ready, until the check holds or fails."""
    lie, stalled, said = STALLS[how]
    q = _covered_append(site)
    node = _node_as(site.agencies["AGENCY-A"], site, Dropping)
    assert isinstance(node, Dropping)
    node.at = q
    node.stalled = stalled
    now = [1_000_000.0]
    ledger = _ledger(site, tmp_path, node, lambda: now[0])
    receipts = ledger.receipts
    try:
        lie(site, ledger, q)
        with pytest.raises(UnavailableError):
            receipts.check()  # stalled (an entry's check: once a head past q is trusted)
        node.stalled = stalled | {"/readyz"}
        assert ledger.ready()["log_node"].startswith("unreachable")  # within the deadline
        now[0] += 10 * 3600
        with pytest.raises(IntegrityError, match=said) as late:
            ledger.ready()
        assert late.value.code == "log_node_overdue"
        with pytest.raises(IntegrityError, match=said):
            receipts.failure()
        assert receipts.broken() is None  # not for good: nothing it showed contradicts itself
        node.stalled = frozenset()  # the node answers again: the lie is caught, for good
        with pytest.raises(IntegrityError) as caught:
            receipts.check()
        assert caught.value.code == "log_node_untrusted"
        assert receipts.broken() is not None
    finally:
        ledger.close()


def test_a_node_logging_a_hand_over_out_of_order_is_caught(site: Site, tmp_path: Path) -> None:
    """It logs a batch in the reverse of the order handed over (the outbox's capture
    order), each at its true position: every receipt would check."""

    class Reordering(NodeClient):
        def post(self, path: str, body: dict[str, Any]) -> Any:
            if path != "/v1/node/submit":
                return super().post(path, body)
            answer = super().post(path, {**body, "transactions": body["transactions"][::-1]})
            return {"outcomes": answer["outcomes"][::-1]}

    signer = Workspace.load(site.operator).signer("AGENCY-A")
    ledger = _ledger(site, tmp_path, _node_as(site.agencies["AGENCY-A"], site, Reordering))
    try:
        first, second = (sign_proposal(signer, "submit", [ev.independent(i)]) for i in (60, 61))
        with pytest.raises(IntegrityError, match="handed over before it") as lie:
            ledger.submit_many([first, second])
        assert lie.value.code == "log_node_untrusted"
        assert ledger.receipts.broken() is not None
        assert not ledger.sync()  # and is handed nothing more
    finally:
        ledger.close()


def _anchored_twice(site: Site) -> tuple[Any, Any]:
    """Two checkpoints the witness quorum cosigned, the first smaller."""
    node = _node_as(site.agencies["AGENCY-A"], site, NodeClient)
    _covered_append(site)
    old = node.get("/v1/node/checkpoint/trusted")
    _covered_append(site)
    new = node.get("/v1/node/checkpoint/trusted")
    assert new["size"] > old["size"]
    return old, new


@pytest.mark.parametrize("how", ["an older head", "another tree of the head's size"])
def test_an_anchor_behind_the_head_the_receipts_trust_is_refused(
    site: Site, tmp_path: Path, how: str
) -> None:
    """Bundles and reports anchor at the cosigned checkpoint the node shows: not one the
    receipts' trusted head is past, nor another tree of its size."""
    old, new = _anchored_twice(site)
    a = site.agencies["AGENCY-A"]
    consortium = Workspace.load(a.root).consortium
    receipts = Receipts(tmp_path / "r.db", consortium, _node_as(a, site, NodeClient))
    assert receipts.check()["size"] >= new["size"]
    if how == "an older head":
        shown = old
    else:  # the receipts trusted another tree of that size before
        shown = receipts.node.get("/v1/node/checkpoint/trusted")
        with closing(sqlite3.connect(tmp_path / "r.db")) as db, db:
            db.execute("update trusted set root = ?", (bytes(32),))

    class Presenting(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            if path == "/v1/node/checkpoint/trusted":
                return shown
            return super().get(path, **params)

    log = RemoteLog(_remote(_node_as(a, site, Presenting), consortium, tmp_path / "r.db"))
    with pytest.raises(IntegrityError, match=r"shrank|another tree") as refused:
        log.anchor()
    assert refused.value.code == "log_node_untrusted"
    assert receipts.broken() is not None


def test_an_append_does_not_wait_for_a_check_the_node_answers_slowly(
    site: Site, tmp_path: Path
) -> None:
    """The check reads the node's entries while an append is acknowledged at once: the
    append is recorded and answered without waiting for the check."""
    entered, release = threading.Event(), threading.Event()

    class Slow(NodeClient):
        def get(self, path: str, **params: Any) -> Any:
            if path == "/v1/node/entries":
                entered.set()
                release.wait(timeout=20)
            return super().get(path, **params)

    signer = Workspace.load(site.operator).signer("AGENCY-A")
    node = _node_as(site.agencies["AGENCY-A"], site, Slow)
    ledger = _ledger(site, tmp_path, node)
    checked: list[dict[str, int]] = []
    checking = threading.Thread(target=lambda: checked.append(ledger.receipts.check()))
    try:
        (first,) = ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(70)])])
        _until(lambda: _cosigned_size(node) > first.position, "cosigned past it")
        checking.start()
        assert entered.wait(timeout=30)
        began = time.monotonic()
        (then,) = ledger.submit_many([sign_proposal(signer, "submit", [ev.independent(71)])])
        took = time.monotonic() - began
        assert then.error is None
        assert then.position is not None
        assert took < 10, f"the append waited {took:.1f} s for the check"
        release.set()
        checking.join(timeout=30)
        assert checked
        assert ledger.receipts.broken() is None
        _until(lambda: ledger.receipts.check()["pending"] == 0, "both appends checked")
    finally:
        release.set()
        ledger.close()
