"""An acknowledged transaction survives SIGKILL of its writer, at random points mid-load.

The writer (tests/support/writer.py) prints `ack TX_ID POSITION` only after submit
returned; whatever reached the pipe before the kill was acknowledged and must be in
the log at that position after the ledger is reopened, and the whole log must verify.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from ledger_gw.log import checkpoint as ckpt
from ledger_gw.workspace import Workspace
from tests.support import writer
from tests.support.events import independent
from tests.support.ledgers import MakeClient, MakeLedger, Verify

ROUNDS = 3
READ_TIMEOUT_S = 60.0


def _run_and_kill(
    workspace: Workspace, url: str, rng: random.Random, want: int
) -> list[tuple[str, int]]:
    """Start a writer, read until `want` acks, SIGKILL it, return every ack it printed."""
    proc = writer.start(workspace.root, url, 0, rng.randrange(2**31))
    assert proc.stdout is not None
    acks: list[tuple[str, int]] = []
    try:
        assert proc.stdout.readline() == "ready\n"
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(acks) < want:
            line = proc.stdout.readline()
            assert line, f"the writer stopped early with status {proc.poll()}"
            ack = writer.parse_ack(line)
            if ack is not None:
                acks.append(ack)
            assert time.monotonic() < deadline, "the writer is too slow"
        time.sleep(rng.uniform(0, 0.02))  # land the kill anywhere in the next commit
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        rest = proc.stdout.read()  # acks that were in the pipe at the time of the kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    acks += [a for a in map(writer.parse_ack, rest.splitlines(keepends=True)) if a is not None]
    return acks


@pytest.mark.slow
def test_acknowledged_transactions_survive_sigkill(
    make_ledger: MakeLedger,
    client: MakeClient,
    workspace: Workspace,
    ledger_url: str,
    verify: Verify,
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    log_key = ckpt.NoteVerifier.from_vkey(workspace.consortium.log_vkey)
    make_ledger().close()  # create the tables before the first writer starts
    acked: dict[str, int] = {}
    for round_ in range(ROUNDS):
        where = f"seed {seed}, round {round_}"
        acks = _run_and_kill(workspace, ledger_url, rng, rng.randint(5, 60))
        for tx_id, position in acks:
            assert tx_id not in acked, where
            acked[tx_id] = position
        assert len(set(acked.values())) == len(acked), where

        ledger = make_ledger()
        size = ledger.size()
        assert size >= len(acked), where
        for tx_id, position in acked.items():
            assert ledger.log.position_of(tx_id) == position, where
        # No torn batch: the latest checkpoint covers exactly the log, and all verifies.
        latest = ckpt.open_checkpoint(ledger.log.checkpoint(), log_key).checkpoint
        assert latest.size == size, where
        report = verify(ledger_url)
        assert report.size == size, where
        assert report.root == latest.root_hash, where
        # The reopened ledger appends right after the surviving log.
        outcome = client(ledger, "AGENCY-C").submit_many([independent(round_)])[0]
        assert outcome.error is None, where
        assert outcome.position == size, where
        acked[outcome.tx_id] = size
        ledger.close()
    assert verify(ledger_url).size >= len(acked)
