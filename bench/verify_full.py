"""Full verification of an embedded ledger: in one process, and with signatures on a pool.

Builds a ledger of N entries (default 100k, realistic journeys, every signature real and
checked on append; a checkpoint per batch of 1000, or per
entry with --batch 1, as a ledger written one entry at a time holds), then verifies it
alternately with ``workers=1`` (the baseline, same run) and one worker per core, and
prints entries/s, the ratio, CPU time per entry in the replaying process and in the
workers, and the machine's load. On a shared machine the wall-clock rates follow the load; the CPU
figures do not, and give the rate an idle machine would reach: the replaying process
is the bound once the workers keep up. Run with `make bench-verify`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.workspace import Workspace

console = Console()


@dataclass(frozen=True)
class Run:
    workers: int
    seconds: float
    main_cpu: float  # seconds of CPU in this process
    workers_cpu: float  # seconds of CPU in the worker processes
    load: float


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _descendants_cpu() -> float:
    """CPU of every process this one started, at any depth: those it reaped, and each
    one not yet reaped with what it reaped itself. The verify workers fork from a server
    process (forkserver), a child of this one, which reaps them."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[str, list[tuple[str, float]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # proc(5): state, ppid, ..., utime, stime, cutime, cstime at 11 to 14
        used = sum(int(f) for f in fields[11:15]) / tick
        children.setdefault(fields[1], []).append((stat.parent.name, used))
    total = _cpu(resource.RUSAGE_CHILDREN)
    pending = [str(os.getpid())]
    while pending:
        for pid, used in children.get(pending.pop(), []):
            total += used
            pending.append(pid)
    return total


def build(ws: Workspace, n: int, batch: int) -> None:
    from ledger_append import signed_events

    from ledger_gw.embedded.ledger import EmbeddedLedger

    txs = signed_events(ws, n, 1)
    ledger = EmbeddedLedger(
        ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: dt.datetime.now(dt.UTC)
    )
    try:
        for i in range(0, len(txs), batch):
            for outcome in ledger.submit_many(txs[i : i + batch]):
                outcome.unwrap()
    finally:
        ledger.close()


def verify(ws: Workspace, workers: int) -> tuple[Run, int]:
    main0, kids0 = _cpu(resource.RUSAGE_SELF), _descendants_cpu()
    start = time.perf_counter()
    report = verify_ledger(ws.ledger_url, ws.consortium, workers=workers)
    seconds = time.perf_counter() - start
    main1, kids1 = _cpu(resource.RUSAGE_SELF), _descendants_cpu()
    run = Run(workers, seconds, main1 - main0, kids1 - kids0, os.getloadavg()[0])
    return run, report.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument(
        "--batch", type=int, default=1000, help="entries per commit, so per checkpoint"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of both ways")
    parser.add_argument("--keep", type=Path, help="build the ledger here once, reuse it")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        if (root / "ws").exists():
            ws = Workspace.load(root / "ws")
        else:
            from ledger_gw.demo.consortium import DEMO

            ws = Workspace.create(root / "ws", replace(DEMO, name="bench"))
            with console.status(f"building {args.entries:,} entries"):
                build(ws, args.entries, args.batch)
        runs: list[Run] = []
        size = 0
        for _ in range(args.rounds):
            for workers in (1, args.workers):
                with console.status(f"verifying, workers={workers}"):
                    run, size = verify(ws, workers)
                runs.append(run)

    table = Table(title=f"full verify of {size:,} entries, {cores} cores, load at the end")
    for column in ("workers", "entries/s", "replay CPU µs/entry", "workers CPU µs/entry"):
        table.add_column(column, justify="right")
    table.add_column("load", justify="right")
    for r in runs:
        table.add_row(
            str(r.workers),
            f"{size / r.seconds:,.0f}",
            f"{r.main_cpu / size * 1e6:,.0f}",
            f"{r.workers_cpu / size * 1e6:,.0f}",
            f"{r.load:.1f}",
        )
    console.print(table)

    def best(workers: int) -> Run:
        return min((r for r in runs if r.workers == workers), key=lambda r: r.seconds)

    alone, pooled = best(1), best(args.workers)
    per_entry = (pooled.main_cpu + pooled.workers_cpu) / size
    idle = 1 / max(pooled.main_cpu / size, per_entry / cores)
    console.print(
        f"same-run ratio, pool ÷ one process (best of {args.rounds}): "
        f"{alone.seconds / pooled.seconds:.2f}×\n"
        f"CPU per entry: one process {alone.main_cpu / size * 1e6:,.0f} µs; pool "
        f"{per_entry * 1e6:,.0f} µs in all, {pooled.main_cpu / size * 1e6:,.0f} µs of it "
        "in the replay\n"
        f"on an idle machine of {cores} cores, from the CPU figures: one process "
        f"{size / alone.main_cpu:,.0f} entries/s, pool {idle:,.0f} entries/s "
        f"({1 / per_entry:,.0f} entries/s per core of all the work)\n"
        f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
