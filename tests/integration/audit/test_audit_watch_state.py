"""The watcher's trusted head: on disk, rename included, before a poll reports it; and
the empty tree's one root, whether a log serves another or a state file holds it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger_gw.audit.watch import Monitor, ReaderSource
from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.errors import AuditError
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import EMPTY_ROOT
from ledger_gw.log.note import sign_note
from ledger_gw.workspace import Workspace
from tests.support import events as ev


@dataclass
class Synced:
    """What was on disk at each fsync of the state's directory: the state file's size."""

    directory: Path
    state: Path
    sizes: list[int]


@pytest.fixture
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Synced:
    directory = tmp_path / "watcher"
    directory.mkdir()
    seen = Synced(directory, directory / "watch.json", [])
    real_fsync = os.fsync
    wanted = os.stat(directory)

    def fsync(fd: int) -> None:
        real_fsync(fd)
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == (wanted.st_dev, wanted.st_ino):
            seen.sizes.append(json.loads(seen.state.read_text())["size"])

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_the_state_directory_is_synced_after_each_new_trusted_head(
    audit_ws: Workspace, tmp_path: Path, synced: Synced
) -> None:
    """The state file's own fsync keeps its bytes; the rename that makes it the state is
    an entry of its directory, kept only once the directory is synced."""
    ledger = EmbeddedLedger(
        f"sqlite:///{tmp_path / 'l.db'}", audit_ws.consortium, audit_ws.log_signer()
    )
    try:
        client = OrgClient(ledger, audit_ws.signer("AGENCY-A"))
        monitor = Monitor(synced.state, audit_ws.consortium, quorum=0)
        client.submit(ev.independent(0))
        assert monitor.poll(ReaderSource(ledger.log)).status == "first"
        assert synced.sizes == [1]
        assert monitor.poll(ReaderSource(ledger.log)).status == "unchanged"
        assert synced.sizes == [1]  # nothing written, nothing synced
        client.submit(ev.independent(1))
        assert monitor.poll(ReaderSource(ledger.log)).status == "extended"
        assert synced.sizes == [1, 2]
        assert not synced.state.with_suffix(".tmp").exists()
    finally:
        ledger.close()


@dataclass(frozen=True)
class _Serving:
    note: str

    def latest_checkpoint(self) -> str:
        return self.note

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        raise AssertionError("no proof is asked of or to the empty tree")


def test_an_empty_tree_with_another_root_is_never_trusted(
    audit_ws: Workspace, tmp_path: Path
) -> None:
    """Signed by the log all the same, served to a new watcher; or written in the state
    file of one that trusted the empty tree: RFC 6962's empty root, SHA-256 of nothing,
    is the only root of size 0."""
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    signer = audit_ws.log_signer()
    origin = audit_ws.consortium.origin
    state = tmp_path / "watch.json"
    monitor = Monitor(state, audit_ws.consortium, quorum=0)
    other_root = base64.b64encode(bytes(32)).decode()
    forged = sign_note(f"{origin}\n0\n{other_root}\n", [signer])
    with pytest.raises(ckpt.CheckpointError, match="empty root"):
        monitor.poll(_Serving(forged))
    with pytest.raises(AuditError, match="empty root"):
        monitor.observe(forged, [])
    assert not state.exists()
    empty = ckpt.sign_checkpoint(ckpt.Checkpoint(origin, 0, EMPTY_ROOT), signer)
    assert monitor.poll(_Serving(empty)).status == "first"
    kept = json.loads(state.read_text())
    state.write_text(json.dumps({**kept, "root": other_root}))
    with pytest.raises(AuditError, match=r"unreadable.*empty root"):
        monitor.poll(_Serving(empty))


class _Slow(ReaderSource):
    """A log read slowly: its proof waits until ``go`` is set, ``asked`` set meanwhile."""

    def __init__(self, ledger: EmbeddedLedger) -> None:
        super().__init__(ledger.log)
        self.asked, self.go = threading.Event(), threading.Event()

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        self.asked.set()
        assert self.go.wait(30)
        return super().consistency_proof(size1, size2)


def test_two_watches_sharing_a_state_file_raise_no_false_alarm(
    audit_ws: Workspace, tmp_path: Path
) -> None:
    """One watch proves 1 -> 2 slowly while another, on the same state file, would move
    the trusted head to 3 in between: the first's sound proof then looked like a fork.
    Polls on one state file take turns."""
    ledger = EmbeddedLedger(
        f"sqlite:///{tmp_path / 'l.db'}", audit_ws.consortium, audit_ws.log_signer()
    )
    state = tmp_path / "watch.json"
    try:
        client = OrgClient(ledger, audit_ws.signer("AGENCY-A"))
        client.submit(ev.independent(0))
        first, second = (Monitor(state, audit_ws.consortium, quorum=0) for _ in range(2))
        assert first.poll(ReaderSource(ledger.log)).status == "first"
        client.submit(ev.independent(1))
        slow = _Slow(ledger)
        with ThreadPoolExecutor(2) as pool:
            slowly = pool.submit(first.poll, slow)
            assert slow.asked.wait(30)  # its note is of size 2, its proof under way
            client.submit(ev.independent(2))
            quickly = pool.submit(second.poll, ReaderSource(ledger.log))
            time.sleep(0.5)  # long enough for the second to have saved size 3 meanwhile
            slow.go.set()
            seen = [slowly.result(30), quickly.result(30)]
        assert [(s.status, s.new_size) for s in seen] == [("extended", 2), ("extended", 3)]
        assert json.loads(state.read_text())["size"] == 3
    finally:
        ledger.close()
