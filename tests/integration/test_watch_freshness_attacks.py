"""A log that wants a watcher with a maximum age to miss a frozen view, and the dates its
witnesses put on their cosignatures: a view the quorum never cosigned is no fresher than
an old one, and a cosignature dated ahead of the watcher's clock, by a witness whose clock
is wrong or who lies, says nothing of when it was made."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from ledger_gw.audit.watch import Monitor
from ledger_gw.errors import LogStaleError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, node_hash
from ledger_gw.log.note import MAX_TIMESTAMP
from ledger_gw.workspace import Workspace
from tests.support.witnesses import TestWitnesses

HOUR = dt.timedelta(hours=1)
A, B = leaf_hash(b"first entry"), leaf_hash(b"second entry")


def _note(
    workspace: Workspace, witnesses: TestWitnesses, size: int, root: bytes, dated: list[int]
) -> str:
    """The checkpoint signed by the log, then cosigned by as many witnesses as ``dated``
    gives dates, each its own (real signatures, the witnesses' own keys)."""
    cp = ckpt.Checkpoint(workspace.consortium.origin, size, root)
    note = ckpt.sign_checkpoint(cp, workspace.log_signer())
    for home, when in zip(witnesses.homes.values(), dated, strict=False):
        note = ckpt.add_cosignature(note, home.signer(), when)
    return note


def test_a_view_the_witnesses_never_cosigned_is_stale(
    workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path
) -> None:
    """Frozen at size 1 for the witnesses, the log shows the watcher a size 2 of its own,
    signed by the log alone: never cosigned at all, it is older than any maximum age,
    as stale as the frozen checkpoint it stands in for."""
    now = time.time()
    clock = [now]
    state = tmp_path / "w.json"
    watcher = Monitor(state, workspace.consortium, max_age=HOUR, clock=lambda: clock[0])
    assert watcher.observe(_note(workspace, witnesses, 1, A, [int(now)] * 2), []).status == "first"

    clock[0] = now + 2 * 3600
    with pytest.raises(LogStaleError):  # the frozen view itself, as before
        watcher.observe(_note(workspace, witnesses, 1, A, [int(now)] * 2), [])
    grown = _note(workspace, witnesses, 2, node_hash(A, B), [])
    with pytest.raises(LogStaleError) as stale:
        watcher.observe(grown, [B])
    assert "carries 0 of the 2 cosignatures it needs" in str(stale.value)
    assert watcher.trusted() == ckpt.Checkpoint(workspace.consortium.origin, 1, A)


@pytest.mark.parametrize("ahead", [10 * 365 * 86400, None], ids=["ten-years", "2^63-1"])
def test_cosignatures_dated_in_the_future_are_not_fresh(
    workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path, ahead: int | None
) -> None:
    """Dated years ahead (or as far as a timestamp goes), the cosignatures of a frozen
    view would keep it fresh until then: they are counted as not made within the age."""
    now = time.time()
    when = MAX_TIMESTAMP if ahead is None else int(now) + ahead
    note = _note(workspace, witnesses, 1, A, [when] * 2)
    watcher = Monitor(tmp_path / "w.json", workspace.consortium, max_age=HOUR, clock=lambda: now)
    with pytest.raises(LogStaleError) as stale:
        watcher.observe(note, [])
    assert "(2 more dated over 1:00:00 ahead of this watcher's clock)" in str(stale.value)
    # Held to the trusted head all the same: consistent and cosigned, it is trusted.
    assert watcher.trusted() == ckpt.Checkpoint(workspace.consortium.origin, 1, A)


def test_a_witness_clock_a_little_ahead_is_fresh(
    workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path
) -> None:
    """Clocks drift: a cosignature dated within the maximum age ahead still counts."""
    now = time.time()
    note = _note(workspace, witnesses, 1, A, [int(now) + 30, int(now) - 30])
    watcher = Monitor(tmp_path / "w.json", workspace.consortium, max_age=HOUR, clock=lambda: now)
    assert watcher.observe(note, []).status == "first"


def test_one_witness_ahead_does_not_make_up_the_quorum(
    workspace: Workspace, witnesses: TestWitnesses, tmp_path: Path
) -> None:
    """A frozen view whose one cosignature is dated ahead, the other two hours old: of
    the quorum of 2, one fresh at most, and the message names the old one."""
    now = time.time()
    note = _note(workspace, witnesses, 1, A, [int(now) + 10**9, int(now) - 7200])
    watcher = Monitor(tmp_path / "w.json", workspace.consortium, max_age=HOUR, clock=lambda: now)
    with pytest.raises(LogStaleError) as stale:
        watcher.observe(note, [])
    assert "carries 1 of the 2 cosignatures it needs" in str(stale.value)
