"""A log that shows a watcher the same old checkpoint for ever (a freeze, hiding what it
appends since) is told from an idle one by the witnesses' dated cosignatures: an idle
log has its latest checkpoint cosigned again, and a watch with a maximum age reports a
view whose quorum of cosignatures is older, once it has held it to the trusted one."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from ledger_gw.audit.watch import Monitor, ReaderSource
from ledger_gw.embedded import witnessing
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.witnessing import endpoints
from ledger_gw.errors import AuditError, LogInconsistentError, LogStaleError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.workspace import Workspace
from tests.support import events as ev
from tests.support.ledgers import MakeClient, MakeLedger
from tests.support.witnesses import TestWitnesses, settled

HOUR = dt.timedelta(hours=1)


def _times(workspace: Workspace, note: str) -> list[int]:
    log_key = ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey)
    members = workspace.consortium.witness_verifiers()
    opened = ckpt.open_checkpoint(note, log_key, members, quorum=2)
    return sorted(c.timestamp for c in opened.cosignatures)


@pytest.fixture
def idle(
    workspace: Workspace,
    witnesses: TestWitnesses,
    make_ledger: MakeLedger,
    client: MakeClient,
    monkeypatch: pytest.MonkeyPatch,
) -> EmbeddedLedger:
    """A ledger of three entries, cosigned by both witnesses, offered again every 0.3 s."""
    monkeypatch.setattr(witnessing, "REFRESH_S", 0.3)
    ledger = make_ledger(witnesses=endpoints(workspace.consortium))
    for outcome in client(ledger, "AGENCY-A").submit_many([ev.independent(i) for i in range(3)]):
        outcome.unwrap()
    settled(ledger)
    return ledger


def test_an_idle_log_has_its_latest_checkpoint_cosigned_again(
    idle: EmbeddedLedger, workspace: Workspace
) -> None:
    first = idle.log.checkpoint()
    before = _times(workspace, first)
    deadline = time.monotonic() + 20
    while True:  # cosignatures are dated in whole seconds
        note = idle.log.checkpoint()
        if min(_times(workspace, note)) > max(before):
            break
        assert time.monotonic() < deadline, "the witnesses never cosigned the idle log again"
        time.sleep(0.2)
    assert note.split("\n\n")[0] == first.split("\n\n")[0]  # the same checkpoint, size 3
    assert idle.log.size() == 3


def test_a_watch_with_a_maximum_age_reports_a_frozen_view(
    idle: EmbeddedLedger, workspace: Workspace, client: MakeClient, tmp_path: Path
) -> None:
    frozen = idle.log.checkpoint()  # what a freezing log goes on serving
    now = time.time()
    clock: list[float] = [now]
    state = tmp_path / "watch.json"
    watcher = Monitor(state, workspace.consortium, max_age=HOUR, clock=lambda: clock[0])
    assert watcher.poll(ReaderSource(idle.log)).status == "first"

    client(idle, "AGENCY-A").submit(ev.independent(3))  # appended, never shown
    clock[0] = now + 2 * 3600  # two hours on, the same view
    with pytest.raises(LogStaleError) as stale:
        watcher.observe(frozen, [])
    assert stale.value.code == "log_stale"
    assert "LOG STALE: the checkpoint of size 3 was last cosigned by 2 witness(es)" in str(
        stale.value
    )
    assert "2:00:0" in str(stale.value)  # how long ago

    # The log's current view, cosigned since: fresh, and trusted.
    settled(idle)
    clock[0] = time.time()
    seen = watcher.poll(ReaderSource(idle.log))
    assert (seen.status, seen.new_size) == ("extended", 4)


def test_a_stale_fork_is_reported_as_a_fork(
    idle: EmbeddedLedger, workspace: Workspace, tmp_path: Path
) -> None:
    """Holding a view to the trusted head comes first: a fork is the graver finding."""
    state = tmp_path / "watch.json"
    watcher = Monitor(state, workspace.consortium, max_age=HOUR)
    assert watcher.poll(ReaderSource(idle.log)).status == "first"
    trusted = ckpt.Checkpoint.parse(idle.log.checkpoint().split("\n\n")[0] + "\n")
    forged = ckpt.Checkpoint(trusted.origin, trusted.size, bytes(32))
    note = ckpt.sign_checkpoint(forged, workspace.log_signer())
    stale = Monitor(state, workspace.consortium, max_age=HOUR, clock=lambda: time.time() + 1e6)
    with pytest.raises(LogInconsistentError, match="LOG FORKED"):
        stale.observe(note, [])


def test_a_maximum_age_needs_a_witness_quorum(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(AuditError) as refused:
        Monitor(tmp_path / "w.json", workspace.consortium, 0, max_age=HOUR)
    assert refused.value.code == "no_witness_quorum"
