"""Submitting threads of a process whose ledger an appending process appends take turns
at admitting and running the contract, and wait for the appender without the turn.
Real threads, a real ledger file; the appender is a stand-in that records and waits."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger, Verdict
from ledger_gw.interfaces import Outcome
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeLedger

PATIENCE = 5.0  # seconds a thread that should get in is given
GLANCE = 0.2  # seconds a thread that should stay out is watched


class HeldAppender:
    """Answers every transaction as appended at position 0, once `release` is set."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)  # released once per call
        self.release = threading.Event()

    def append(self, admitted: Sequence[Verdict]) -> list[Outcome]:
        self.entered.release()
        self.release.wait(PATIENCE)
        return [Outcome(v.tx.tx_id, {}, None, 0) for v in admitted]

    def close(self) -> None:
        pass


def _submits(ledger: EmbeddedLedger, workspace: Workspace) -> threading.Thread:
    agency = OrgClient(ledger, workspace.signer("AGENCY-A"))
    thread = threading.Thread(
        target=agency.submit_many, args=([ev.entitlement_granted(ev.pid())],), daemon=True
    )
    thread.start()
    return thread


@pytest.mark.parametrize("take_turns", [True, False], ids=["turns", "side-by-side"])
def test_one_thread_at_a_time_runs_the_contract(
    workspace: Workspace, make_ledger: MakeLedger, monkeypatch: pytest.MonkeyPatch, take_turns: bool
) -> None:
    ledger = make_ledger(appender=HeldAppender(), take_turns=take_turns)
    inside, leave = threading.Semaphore(0), threading.Event()
    real = ledger._simulate

    def held(admitted: list[Verdict]) -> None:
        inside.release()
        leave.wait(PATIENCE)
        real(admitted)

    monkeypatch.setattr(ledger, "_simulate", held)
    first = _submits(ledger, workspace)
    assert inside.acquire(timeout=PATIENCE)
    second = _submits(ledger, workspace)
    assert inside.acquire(timeout=GLANCE if take_turns else PATIENCE) is not take_turns
    leave.set()
    assert ledger._appender is not None
    ledger._appender.release.set()  # type: ignore[attr-defined]
    first.join(PATIENCE)
    second.join(PATIENCE)
    assert not first.is_alive()
    assert not second.is_alive()


def test_a_thread_waits_for_the_appender_without_its_turn(
    workspace: Workspace, make_ledger: MakeLedger
) -> None:
    appender = HeldAppender()
    ledger = make_ledger(appender=appender, take_turns=True)
    first = _submits(ledger, workspace)
    assert appender.entered.acquire(timeout=PATIENCE)  # the first waits for the appender...
    second = _submits(ledger, workspace)
    assert appender.entered.acquire(timeout=PATIENCE)  # ...while the second took its turn
    appender.release.set()
    first.join(PATIENCE)
    second.join(PATIENCE)
    assert not first.is_alive()
    assert not second.is_alive()
