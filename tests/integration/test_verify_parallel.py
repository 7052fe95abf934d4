"""Signatures checked on a pool of worker processes give the verdict the verifying
process gives alone: the same report, or the same first bad position and message.

One ledger of 120 entries (every signature real) per module; each test tampers with a
copy of its file, as an operator with database access could.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaincode.canonical import canonical_json
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.packing import pack, unpack
from ledger_gw.embedded.verify import ENTRIES, STATE_KEYS, verify_ledger
from ledger_gw.errors import IntegrityError
from ledger_gw.log.entry import Entry
from ledger_gw.workspace import Workspace
from tests.support.events import independent

SIZE = 120
CHUNK = 16  # eight chunks: several in flight at once on the pool
MIDDLE = 71  # in the fifth chunk, neither its first entry nor its last


@pytest.fixture(scope="module")
def original(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parallel") / "ledger.db"
    ledger = EmbeddedLedger(f"sqlite:///{path}", workspace.consortium, workspace.log_signer())
    try:
        client = OrgClient(ledger, workspace.signer("AGENCY-A"))
        for start in range(0, SIZE, 30):
            outcomes = client.submit_many([independent(i) for i in range(start, start + 30)])
            assert all(o.error is None for o in outcomes)
        assert ledger.size() == SIZE
    finally:
        ledger.close()
    return path


@pytest.fixture
def copy(original: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.db"
    with closing(sqlite3.connect(original)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


def _run(workspace: Workspace, copy: Path, workers: int | None) -> tuple[Any, int]:
    """The report or the error, and how many worker processes it started."""
    before = {p.pid for p in multiprocessing.active_children()}
    seen = 0

    def progress(step: str, done: int, total: int) -> None:
        nonlocal seen
        started = {p.pid for p in multiprocessing.active_children()} - before
        seen = max(seen, len(started))

    try:
        report = verify_ledger(
            f"sqlite:///{copy}", workspace.consortium, progress, workers=workers, chunk=CHUNK
        )
    except IntegrityError as exc:
        return exc, seen
    return report, seen


def _failure(workspace: Workspace, copy: Path, workers: int) -> IntegrityError:
    """The error; when a chunk was done before it, the pool was seen at work."""
    outcome, seen = _run(workspace, copy, workers)
    assert isinstance(outcome, IntegrityError), outcome
    if outcome.position is not None and outcome.position >= CHUNK:
        assert seen == (workers if workers > 1 else 0)
    return outcome


def _rewrite(copy: Path, position: int, change: Any) -> None:
    """Replace the entry at ``position`` by ``change(entry)``, in canonical form."""
    with closing(sqlite3.connect(copy, isolation_level=None)) as db:
        (data,) = db.execute("SELECT entry FROM log WHERE seq = ?", (position,)).fetchone()
        db.execute(
            "UPDATE log SET entry = ? WHERE seq = ?",
            (pack(change(Entry.from_bytes(unpack(data)))), position),
        )


def test_same_report_on_one_process_and_on_a_pool(workspace: Workspace, copy: Path) -> None:
    alone, none = _run(workspace, copy, 1)
    pooled, seen = _run(workspace, copy, 3)
    assert (none, seen) == (0, 3)
    assert alone == pooled
    assert alone.size == SIZE


BUSY_BESIDE = """
import sqlite3, sys, threading
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.workspace import Workspace

def busy() -> None:  # what a gateway's writer does: SQLite and OpenSSL, all the time
    db = sqlite3.connect(":memory:", check_same_thread=False)
    key = ec.generate_private_key(ec.SECP256R1())
    while True:
        db.execute("SELECT length(randomblob(4096))").fetchone()
        key.sign(b"x", ec.ECDSA(hashes.SHA256()))

threading.Thread(target=busy, daemon=True).start()
workspace = Workspace.load(Path(sys.argv[1]))
for _ in range(int(sys.argv[3])):
    assert verify_ledger(sys.argv[2], workspace.consortium, workers=2, chunk=16).size == 120
print("verified")
"""


def test_a_pool_started_beside_busy_threads_does_not_hang(workspace: Workspace, copy: Path) -> None:
    """A process that verifies may have other threads in SQLite or OpenSSL at any moment
    (a benchmark's ledger, a server's witnesses); a worker forked from it then would
    inherit their locks held, and wait for ever at its first SQLite call."""
    assert SIZE == 120
    command = [sys.executable, "-c", BUSY_BESIDE, str(workspace.root), f"sqlite:///{copy}", "10"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as run:
        try:
            out, err = run.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # its hung workers too
            raise
    assert run.returncode == 0, err
    assert out.strip() == "verified"


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux's CPU affinity")
@pytest.mark.parametrize(("cores", "started"), [(1, 0), (2, 2)])
def test_by_default_one_worker_per_core_it_may_run_on(
    workspace: Workspace, copy: Path, monkeypatch: pytest.MonkeyPatch, cores: int, started: int
) -> None:
    """An auditor's container pinned to one core of a 32-core host verifies in its own
    process, not on 32 processes taking turns at that core."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(os, "cpu_count", lambda: 32)
    report, seen = _run(workspace, copy, None)
    assert seen == started
    assert report.size == SIZE


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_runs_through_the_entries_then_the_state_keys(
    workspace: Workspace, copy: Path, workers: int
) -> None:
    """An auditor's bar ends at 100% when the run does, not before the state is compared."""
    told: list[tuple[str, int, int]] = []
    report = verify_ledger(
        f"sqlite:///{copy}",
        workspace.consortium,
        lambda *t: told.append(t),
        workers=workers,
        chunk=CHUNK,
    )
    steps = [step for step, _, _ in told]
    assert steps == sorted(steps, key=[ENTRIES, STATE_KEYS].index)  # one step, then the other
    entries = [(done, total) for step, done, total in told if step == ENTRIES]
    keys = [(done, total) for step, done, total in told if step == STATE_KEYS]
    assert set(entries) == {(min(n + CHUNK, SIZE), SIZE) for n in range(0, SIZE, CHUNK)}
    for told_step in (entries, keys):
        assert [done for done, _ in told_step] == sorted(done for done, _ in told_step)
    assert keys[-1] == (report.state_keys, report.state_keys)
    assert len(keys) > 1  # several ranges: the bar moves while the state is compared


def test_signature_by_another_member_in_the_middle(workspace: Workspace, copy: Path) -> None:
    """A valid signature, by a key that is not the certificate's."""
    other = workspace.signer("AGENCY-C")
    _rewrite(
        copy,
        MIDDLE,
        lambda e: Entry(e.proposal, other.sign(e.proposal), e.result, e.effects).to_bytes(),
    )
    pooled = _failure(workspace, copy, 2)
    assert pooled.position == MIDDLE
    assert str(pooled) == f"position {MIDDLE}: signature check failed: signature does not verify"
    alone = _failure(workspace, copy, 1)
    assert (str(alone), alone.position, alone.code) == (
        str(pooled),
        pooled.position,
        pooled.code,
    )


@pytest.mark.parametrize("position", [CHUNK - 1, CHUNK, SIZE - 1])
def test_signature_with_a_flipped_bit(workspace: Workspace, copy: Path, position: int) -> None:
    def flip(e: Entry) -> bytes:
        sig = bytearray(e.signature)
        sig[-3] ^= 0x04
        return Entry(e.proposal, bytes(sig), e.result, e.effects).to_bytes()

    _rewrite(copy, position, flip)
    pooled = _failure(workspace, copy, 2)
    alone = _failure(workspace, copy, 1)
    assert pooled.position == alone.position == position
    assert str(pooled) == str(alone)
    assert "signature check failed" in str(pooled)


@pytest.mark.parametrize("workers", [1, 2])
def test_impossible_timestamp_is_reported_not_raised(
    workspace: Workspace, copy: Path, workers: int
) -> None:
    """A date that does not exist, in the entry and in the log's own column alike."""
    bad = "2026-02-30T10:00:00.000000Z"

    def redate(e: Entry) -> bytes:
        proposal = json.loads(e.proposal)
        proposal["timestamp"] = bad
        return Entry(canonical_json(proposal), e.signature, e.result, e.effects).to_bytes()

    _rewrite(copy, MIDDLE, redate)
    with closing(sqlite3.connect(copy, isolation_level=None)) as db:
        db.execute("UPDATE log SET timestamp = ? WHERE seq = ?", (bad, MIDDLE))
    exc = _failure(workspace, copy, workers)
    assert exc.position == MIDDLE
    assert "day is out of range for month" in str(exc)


def test_cli_workers_one_reports_what_the_pool_reports(
    workspace: Workspace, copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify_ledger, "__kwdefaults__", {"workers": None, "chunk": CHUNK})
    other = workspace.signer("AGENCY-C")
    _rewrite(
        copy,
        MIDDLE,
        lambda e: Entry(e.proposal, other.sign(e.proposal), e.result, e.effects).to_bytes(),
    )
    args = ["verify", "--dir", str(workspace.root), "--ledger", f"sqlite:///{copy}"]
    args += ["--consortium", str(workspace.root / "consortium.json")]
    runs = [CliRunner().invoke(cli, [*args, "--workers", n]) for n in ("1", "2")]
    for run in runs:
        assert run.exit_code == 1
        assert isinstance(run.exception, IntegrityError)
        assert run.exception.position == MIDDLE
    assert str(runs[0].exception) == str(runs[1].exception)
    assert runs[0].output == runs[1].output
    refused = CliRunner().invoke(cli, [*args, "--workers", "0"])
    assert refused.exit_code == 2
    assert "--workers" in refused.output


@pytest.mark.parametrize("workers", [1, 2])
def test_first_bad_checkpoint_by_size_is_reported(
    workspace: Workspace, copy: Path, workers: int
) -> None:
    """Checkpoints are judged chunk by chunk on the pool: still the smallest bad one."""
    with closing(sqlite3.connect(copy, isolation_level=None)) as db:
        for size in (90, 30):
            db.execute(
                "UPDATE checkpoints SET note = replace(note, ?, ?) WHERE size = ?",
                (f"\n{size}\n", f"\n{size + 1}\n", size),
            )
    exc = _failure(workspace, copy, workers)
    assert exc.position == 29
    assert str(exc).startswith("position 29: checkpoint 30 does not verify")


def _state_keys(copy: Path) -> list[bytes]:
    with closing(sqlite3.connect(copy)) as db:
        return [bytes(k) for (k,) in db.execute("SELECT key FROM state ORDER BY key")]


@pytest.mark.parametrize("index", [0, CHUNK - 1, CHUNK, -1], ids=["first", "end", "next", "last"])
@pytest.mark.parametrize("workers", [1, 2])
def test_state_row_deleted_at_a_ranges_edge(
    workspace: Workspace, copy: Path, workers: int, index: int
) -> None:
    """The stored state is compared in ranges of CHUNK keys, each range reading the
    replayed rows of its keys: a row missing at either edge of a range is found."""
    key = _state_keys(copy)[index]
    with closing(sqlite3.connect(copy, isolation_level=None)) as db:
        db.execute("DELETE FROM state WHERE key = ?", (key,))
    exc = _failure(workspace, copy, workers)
    assert "state" in str(exc)


@pytest.mark.parametrize("index", [0, CHUNK - 1, CHUNK, -1], ids=["first", "end", "next", "last"])
@pytest.mark.parametrize("workers", [1, 2])
def test_state_row_added_at_a_ranges_edge(
    workspace: Workspace, copy: Path, workers: int, index: int
) -> None:
    """A row no transaction wrote, sorting just after a range's last key (so it becomes
    that range's last, or the next one's first), or before the first key of all."""
    keys = _state_keys(copy)
    key = keys[index] + b"\x00" if index else keys[0][:-1]
    with closing(sqlite3.connect(copy, isolation_level=None)) as db:
        (seq, value) = db.execute(
            "SELECT seq, value FROM state WHERE key = ?", (keys[index],)
        ).fetchone()
        db.execute("INSERT INTO state (key, seq, value) VALUES (?, ?, ?)", (key, seq, value))
    exc = _failure(workspace, copy, workers)
    assert "state" in str(exc)


@pytest.mark.parametrize("workers", [1, 2])
def test_state_value_altered_in_a_later_range(
    workspace: Workspace, copy: Path, workers: int
) -> None:
    """Reported at the position the altered row names, whichever process compared it."""
    key = _state_keys(copy)[3 * CHUNK + 2]
    with closing(sqlite3.connect(copy, isolation_level=None)) as db:
        seq, value = db.execute("SELECT seq, value FROM state WHERE key = ?", (key,)).fetchone()
        spoiled = unpack(value).replace(b'"', b"'", 1)
        db.execute("UPDATE state SET value = ? WHERE key = ?", (pack(spoiled), key))
    exc = _failure(workspace, copy, workers)
    assert exc.position == seq
    assert str(exc) == f"position {seq}: a state row differs from the replayed one"
