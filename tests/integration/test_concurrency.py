"""Concurrent writers extend one linear, verifiable log: threads and real processes."""

from __future__ import annotations

import itertools
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.schema import checkpoints, log
from ledger_gw.interfaces import Outcome
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import verify_consistency
from ledger_gw.workspace import Workspace
from tests.support import writer
from tests.support.events import independent
from tests.support.ledgers import MakeClient, MakeLedger, Verify

THREADS = 8
PER_THREAD = 50
PROCESSES = 3
PER_PROCESS = 150


def _log_positions(ledger: EmbeddedLedger) -> dict[str, int]:
    with ledger.reader() as conn:
        rows = conn.execute(select(log.c.seq, log.c.tx_id))
        return {bytes(tx_id).hex(): int(seq) for seq, tx_id in rows}


def _checkpoint_roots(ledger: EmbeddedLedger, workspace: Workspace) -> dict[int, bytes]:
    verifier = ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey)
    with ledger.reader() as conn:
        rows = conn.execute(select(checkpoints.c.size, checkpoints.c.note)).all()
    roots = {}
    for size, note in rows:
        cp = ckpt.open_checkpoint(note, verifier).checkpoint
        assert cp.size == size
        roots[int(size)] = cp.root_hash
    return roots


def test_threads_share_one_ledger_with_group_commit(
    ledger: EmbeddedLedger,
    client: MakeClient,
    verify: Verify,
    ledger_url: str,
    workspace: Workspace,
) -> None:
    agencies = ["AGENCY-A", "AGENCY-C"]
    outcomes: list[list[Outcome]] = [[] for _ in range(THREADS)]
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(n: int) -> None:
        org = client(ledger, agencies[n % 2])
        try:
            start.wait()
            for i in range(PER_THREAD):
                tx = org.sign("submit", independent(n * PER_THREAD + i))
                outcomes[n].extend(ledger.submit_many([tx]))
        except BaseException as exc:  # reported below, with the thread's number
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    flat = [o for per in outcomes for o in per]
    assert len(flat) == THREADS * PER_THREAD
    assert all(o.error is None and o.result is not None for o in flat)
    positions = sorted(o.position for o in flat if o.position is not None)
    assert positions == list(range(THREADS * PER_THREAD))
    assert ledger.size() == THREADS * PER_THREAD
    stored = _log_positions(ledger)
    assert {o.tx_id: o.position for o in flat} == stored
    with ledger.reader() as conn:
        n_checkpoints = conn.execute(select(func.count()).select_from(checkpoints)).scalar()
    # One checkpoint is signed per committed batch: concurrent callers share commits.
    assert n_checkpoints is not None
    assert 0 < n_checkpoints < THREADS * PER_THREAD
    roots = _checkpoint_roots(ledger, workspace)
    assert max(roots) == THREADS * PER_THREAD
    report = verify(ledger_url)
    assert report.size == THREADS * PER_THREAD
    assert report.checkpoints == n_checkpoints


@pytest.mark.slow
def test_processes_extend_one_linear_log(
    make_ledger: MakeLedger, workspace: Workspace, ledger_url: str, verify: Verify
) -> None:
    # Create the tables first, so the writers do not race to create them.
    make_ledger().close()
    procs = [
        writer.start(workspace.root, ledger_url, PER_PROCESS, seed) for seed in range(PROCESSES)
    ]
    acks: dict[int, list[tuple[str, int]]] = {}
    for n, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-2000:]
        lines = out.splitlines(keepends=True)
        assert lines[0] == "ready\n"
        assert lines[-1] == "done\n"
        acks[n] = [a for a in map(writer.parse_ack, lines) if a is not None]
        assert len(acks[n]) == PER_PROCESS
    total = PROCESSES * PER_PROCESS
    acked = {tx_id: pos for per in acks.values() for tx_id, pos in per}
    assert len(acked) == total
    assert sorted(acked.values()) == list(range(total))

    ledger = make_ledger()
    stored = _log_positions(ledger)
    assert stored == acked  # every acknowledged transaction, once, at its position
    assert ledger.size() == total
    writer_at = {pos: n for n, per in acks.items() for _, pos in per}
    # Each writer appended at positions interleaved with the others: one shared tree.
    assert len({writer_at[pos] for pos in range(total)}) == PROCESSES
    assert Counter(writer_at.values()) == dict.fromkeys(range(PROCESSES), PER_PROCESS)

    roots = _checkpoint_roots(ledger, workspace)
    assert max(roots) == total
    # A checkpoint at size s was signed by whoever appended position s - 1; prove every
    # consecutive pair of checkpoints, and some far-apart ones, consistent.
    sizes = sorted(roots)
    pairs = list(itertools.pairwise(sizes)) + [
        (sizes[i], sizes[-1]) for i in range(0, len(sizes), 7)
    ]
    cross = 0
    for size1, size2 in pairs:
        proof = ledger.log.consistency_proof(size1, size2)
        verify_consistency(size1, size2, proof, roots[size1], roots[size2])
        cross += writer_at[size1 - 1] != writer_at[size2 - 1]
    assert cross > 0  # some proofs span checkpoints of different writers

    report = verify(ledger_url)
    assert report.size == total
    assert report.checkpoints == len(roots)
