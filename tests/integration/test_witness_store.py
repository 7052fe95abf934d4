"""The witness's memory (ledger_gw.witness.store) on a real SQLite file: durable
settings, atomic decide-and-remember, and no two advances from one old size."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from ledger_gw.log.checkpoint import Checkpoint, sign_checkpoint
from ledger_gw.log.note import SigType, generate_signer
from ledger_gw.witness import Witness
from ledger_gw.witness.core import Cosigned, TrustedLog, Witnessed
from ledger_gw.witness.errors import Reason, RefusedError, SizeConflictError
from ledger_gw.witness.protocol import AddCheckpoint
from ledger_gw.witness.store import Step, WitnessStore

ORIGIN = "example.org/ledger"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'witness.db'}"


@pytest.fixture
def store(url: str) -> Iterator[WitnessStore]:
    opened = WitnessStore(url)
    yield opened
    opened.close()


def to(old: int, size: int, pause: float = 0.0) -> Step:
    """A request from `old` to `size`, decided as the witness does: old must match."""

    def step(latest: Witnessed | None) -> Cosigned:
        have = 0 if latest is None else latest.size
        time.sleep(pause)
        if have != old:
            raise SizeConflictError(have)
        return Cosigned("— w x\n", Witnessed(ORIGIN, size, bytes([size]) * 32, f"note {size}"))

    return step


def test_the_memory_is_durable_and_survives_reopening(store: WitnessStore, url: str) -> None:
    with store.engine.connect() as conn:  # in the file itself once committed: no WAL
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "delete"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 3  # EXTRA: its removal too
    assert store.latest(ORIGIN) is None
    store.advance(ORIGIN, to(0, 3))
    store.advance(ORIGIN, to(3, 7))
    again = WitnessStore(url)
    try:
        assert again.latest(ORIGIN) == Witnessed(ORIGIN, 7, bytes([7]) * 32, "note 7")
        assert again.latest("example.org/other") is None
    finally:
        again.close()
    # The file alone, copied while the witness runs, is the whole memory.
    original = Path(make_url(url).database or "")
    copy = original.with_name("copy.db")
    shutil.copyfile(original, copy)
    copied = WitnessStore(f"sqlite:///{copy}", create=False)
    try:
        assert copied.latest(ORIGIN) == Witnessed(ORIGIN, 7, bytes([7]) * 32, "note 7")
    finally:
        copied.close()


def test_a_refused_step_changes_nothing(store: WitnessStore) -> None:
    store.advance(ORIGIN, to(0, 4))

    def refuse(latest: Witnessed | None) -> Cosigned:
        raise RefusedError(Reason.BAD_PROOF, "no")

    with pytest.raises(RefusedError):
        store.advance(ORIGIN, refuse)
    assert store.latest(ORIGIN) == Witnessed(ORIGIN, 4, bytes([4]) * 32, "note 4")


def test_two_writers_cannot_both_advance_from_one_size(url: str) -> None:
    """Two stores on one file (two witness processes, say), each deciding slowly."""
    first, second = WitnessStore(url), WitnessStore(url)
    first.advance(ORIGIN, to(0, 2))
    outcomes: list[int | str] = []
    gate = threading.Barrier(2)

    def advance(store: WitnessStore, size: int) -> None:
        gate.wait()
        try:
            outcomes.append(store.advance(ORIGIN, to(2, size, pause=0.3)).state.size)
        except SizeConflictError as exc:
            outcomes.append(f"conflict {exc.size}")

    threads = [
        threading.Thread(target=advance, args=(first, 9)),
        threading.Thread(target=advance, args=(second, 5)),
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Whoever went first advanced; the other found the winner's size.
        assert sorted(map(str, outcomes)) in (["5", "conflict 5"], ["9", "conflict 9"])
        winner = next(o for o in outcomes if isinstance(o, int))
        remembered = second.latest(ORIGIN)
        assert remembered is not None
        assert (remembered.size, remembered.note) == (winner, f"note {winner}")
    finally:
        first.close()
        second.close()


def test_a_forged_checkpoint_is_refused_without_waiting_for_the_memory(
    url: str, tmp_path: Path
) -> None:
    """The log's signature is checked before the memory's write lock is asked for: a
    flood of forged requests holds up no honest one, and one forged request is refused
    at once even while another process writes the memory."""
    log_key, _ = generate_signer(ORIGIN)
    forger, _ = generate_signer(ORIGIN)  # the same name, another key
    witness_key, _ = generate_signer("witness.test", SigType.COSIGNATURE_V1)
    trusted = TrustedLog.from_vkey(ORIGIN, log_key.verifier.vkey)
    store = WitnessStore(url)
    witness = Witness(witness_key, [trusted], store)
    forged = sign_checkpoint(Checkpoint(ORIGIN, 1, bytes(32)), forger)
    body = AddCheckpoint.build(0, (), forged).body()
    holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the memory
        start = time.monotonic()
        with pytest.raises(RefusedError) as refused:
            witness.add_checkpoint(body)
        assert refused.value.reason is Reason.BAD_SIGNATURE
        assert time.monotonic() - start < 5  # not the 30 s busy timeout
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()
    after = WitnessStore(url)
    try:
        assert after.latest(ORIGIN) is None
    finally:
        after.close()
