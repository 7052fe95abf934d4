"""A writer that pushes each checkpoint to the witnesses, killed (SIGKILL) at random
moments: while it signs a checkpoint, commits, copies its write-ahead log into the file
(embedded.walcopy, after every commit) or stores a witness's cosignature. After each
kill, every acknowledged transaction is at its position, the whole log verifies (the
stored cosignatures with it), and the witnesses cosign the reopened log's next head: a
crash leaves the log and its witnesses agreeing on one history.

The writer is this module run as a program:

    python -m tests.integration.test_durability_witnessed_crash WS_DIR LEDGER_URL SEED

printing `ready`, then `ack TX_ID POSITION` for each transaction once its call returned.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.witnessing import endpoints
from ledger_gw.workspace import Workspace
from tests.support import writer
from tests.support.events import independent
from tests.support.ledgers import MakeClient, MakeLedger, Verify
from tests.support.witnesses import TestWitnesses, settled

ROUNDS = 3
READ_TIMEOUT_S = 30.0
PROGRAM = "tests.integration.test_durability_witnessed_crash"  # this module, as run above


def _killed_writer(workspace: Workspace, url: str, rng: random.Random) -> list[tuple[str, int]]:
    """Every ack of a witnessed writer killed after a random number of them."""
    proc = subprocess.Popen(
        [sys.executable, "-m", PROGRAM, str(workspace.root), url, str(rng.randrange(2**31))],
        cwd=writer.ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acks: list[tuple[str, int]] = []
    try:
        assert proc.stdout.readline() == "ready\n"
        deadline = time.monotonic() + READ_TIMEOUT_S
        want = rng.randint(5, 40)
        while len(acks) < want:
            line = proc.stdout.readline()
            assert line, f"the writer stopped early with status {proc.poll()}"
            if (ack := writer.parse_ack(line)) is not None:
                acks.append(ack)
            assert time.monotonic() < deadline, "the writer is too slow"
        time.sleep(rng.uniform(0, 0.03))  # anywhere in a commit, a copy or a cosignature
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return acks + [a for a in map(writer.parse_ack, rest.splitlines(keepends=True)) if a]


def test_a_witnessed_writer_killed_anywhere_loses_nothing_and_forks_nothing(
    witnesses: TestWitnesses,
    make_ledger: MakeLedger,
    client: MakeClient,
    ledger_url: str,
    verify: Verify,
) -> None:
    workspace = witnesses.workspace
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    make_ledger().close()  # the tables, before the first writer
    acked: dict[str, int] = {}
    for round_ in range(ROUNDS):
        where = f"seed {seed}, round {round_}"
        for tx_id, position in _killed_writer(workspace, ledger_url, rng):
            assert acked.setdefault(tx_id, position) == position, where
        assert len(set(acked.values())) == len(acked), where

        ledger = EmbeddedLedger(
            ledger_url,
            workspace.consortium,
            workspace.log_signer(),
            witnesses=endpoints(workspace.consortium),
        )
        try:
            assert all(ledger.log.position_of(t) == p for t, p in acked.items()), where
            report = verify(ledger_url)
            assert report.size == ledger.size(), where
            (outcome,) = client(ledger, "AGENCY-C").submit_many([independent(round_)])
            assert (outcome.error, outcome.position) == (None, report.size), where
            acked[outcome.tx_id] = report.size
            settled(ledger)  # both witnesses cosign the head after the crash: no fork
        finally:
            ledger.close()
    final = verify(ledger_url)
    assert final.size >= len(acked)
    assert final.witnessed_size == final.size


def main(argv: list[str]) -> int:
    root, url, seed = Path(argv[0]), argv[1], int(argv[2])
    ws = Workspace.load(root)
    ledger = EmbeddedLedger(url, ws.consortium, ws.log_signer(), witnesses=endpoints(ws.consortium))
    agency = OrgClient(ledger, ws.signer("AGENCY-A"))
    rng = random.Random(seed)
    print("ready", flush=True)
    sent = 0
    while True:
        many = 1 if rng.random() < 0.5 else rng.randint(2, 8)
        for outcome in agency.submit_many([independent(sent + i) for i in range(many)]):
            if outcome.error is not None or outcome.position is None:
                raise SystemExit(f"unexpected outcome {outcome}")
            sys.stdout.write(f"ack {outcome.tx_id} {outcome.position}\n")
            sys.stdout.flush()
        sent += many


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
