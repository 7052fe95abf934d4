"""Submitting threads of one process take turns, and give the turn up while they wait
for the appender. Real threads; the gateway's turns are checked on a real workspace."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from ledger_gw.embedded.turns import Turns
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace

PATIENCE = 5.0  # seconds a thread that should get in is given
GLANCE = 0.2  # seconds a thread that should stay out is watched


def _enters(turn: Callable[[], AbstractContextManager[None]]) -> threading.Event:
    """Starts a thread that takes `turn`; the event is set once it is in."""
    inside = threading.Event()

    def take() -> None:
        with turn():
            inside.set()

    threading.Thread(target=take, daemon=True).start()
    return inside


def test_one_thread_at_a_time_has_its_turn() -> None:
    turns = Turns()
    with turns.turn():
        other = _enters(turns.turn)
        assert not other.wait(GLANCE)
    assert other.wait(PATIENCE)


def test_a_thread_gives_its_turn_up_while_it_waits_and_then_takes_it_back() -> None:
    turns = Turns()
    inside, back, leaving = threading.Event(), threading.Event(), threading.Event()

    def take_and_hold() -> None:
        with turns.turn():
            inside.set()
            back.wait(PATIENCE)
            leaving.set()

    with turns.turn():
        with turns.waiting():
            threading.Thread(target=take_and_hold, daemon=True).start()
            assert inside.wait(PATIENCE)  # the other thread computes while this one waits
            back.set()
        assert leaving.is_set()  # the turn came back only once the other gave it up
        late = _enters(turns.turn)
        assert not late.wait(GLANCE)  # and it is this thread's again
    assert late.wait(PATIENCE)


def test_waiting_without_a_turn_and_a_turn_within_a_turn_change_nothing() -> None:
    turns = Turns()
    # No turn to give up; then the same thread's turn twice, not a deadlock.
    with turns.waiting(), turns.turn(), turns.turn():
        other = _enters(turns.turn)
        assert not other.wait(GLANCE)
    assert other.wait(PATIENCE)


@contextmanager
def _gateway(root: Path, appender: Path | None) -> Iterator[Gateway]:
    gateway = Gateway.open(GatewayConfig(directory=root, appender=appender, migrate=False))
    try:
        yield gateway
    finally:
        gateway.close()


@pytest.mark.parametrize("appender", [True, False], ids=["appending-process", "in-process"])
def test_the_gateway_takes_turns_only_when_an_appending_process_appends(
    workspace: Workspace, tmp_path: Path, appender: bool
) -> None:
    socket = tmp_path / "append.sock" if appender else None  # never opened here
    with _gateway(workspace.root, socket) as gateway, gateway.submitting():
        other = _enters(gateway.submitting)
        assert other.wait(GLANCE if appender else PATIENCE) is not appender
    assert other.wait(PATIENCE)
