"""A writer process for the integration tests.

    python -m tests.support.writer WS_DIR LEDGER_URL COUNT SEED

Submits COUNT independent events (forever when COUNT is 0) as AGENCY-A, singly or in
batches of 2 to 8 via submit_many, and prints `ack TX_ID POSITION` for each one,
flushed, only after the submission returned. Prints `ready` first and `done` last.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from ledger_gw.client import OrgClient
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.workspace import Workspace
from tests.support.events import independent

ROOT = Path(__file__).resolve().parents[2]


def start(ws_root: Path, url: str, count: int, seed: int) -> subprocess.Popen[str]:
    """Start a writer process; its stdout is a text pipe of ready/ack/done lines."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.writer", str(ws_root), url, str(count), str(seed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def parse_ack(line: str) -> tuple[str, int] | None:
    """(tx_id, position) from a complete `ack` line, else None."""
    parts = line.split()
    if len(parts) != 3 or parts[0] != "ack" or not line.endswith("\n"):
        return None
    return parts[1], int(parts[2])


def _ack(tx_id: str, position: int) -> None:
    sys.stdout.write(f"ack {tx_id} {position}\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    root, url, count, seed = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    ws = Workspace.load(root)
    ledger = EmbeddedLedger(url, ws.consortium, ws.log_signer())
    client = OrgClient(ledger, ws.signer("AGENCY-A"))
    rng = random.Random(seed)
    print("ready", flush=True)
    done = 0
    try:
        while count == 0 or done < count:
            n = 1 if rng.random() < 0.5 else rng.randint(2, 8)
            if count:
                n = min(n, count - done)
            events = [independent(done + i) for i in range(n)]
            if n == 1:
                result = client.submit(events[0])
                _ack(result["tx_id"], ledger.log.position_of(result["tx_id"]))
            else:
                for outcome in client.submit_many(events):
                    if outcome.error is not None or outcome.position is None:
                        raise SystemExit(f"unexpected outcome {outcome}")
                    _ack(outcome.tx_id, outcome.position)
            done += n
    finally:
        ledger.close()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
