"""The embedded ledger as it grows: the same measures at each size, with a same-run baseline.

Grows one ledger (SQLite, synchronous=FULL, batches of 1,000, every signature made by
the consortium's members and verified on append) and, beside it, the minimum honest
ledger (bench/honest_baseline.py) to each size. At each size it then appends a window of
new events to both, alternately, and prints for the real ledger: bytes per event on
disk, the process's RSS, append rate and its ratio to the baseline's at the same size,
inclusion proof (fetch + verify against the signed checkpoint) and history query
(signed, authenticated, run by the contract) p50/p99, and full verification on every
core, in a process of its own as `ledger-gw verify` makes it (bench/auditor.py). A
second ledger kept at the smallest size takes its turn in each window too, so that
"append at this size ÷ at the smallest" compares rates measured side by side, not an
hour and a different load apart: flat cost means that column stays near 1 and the
latencies do not climb. Prints the machine's load with each size: on a shared machine
the absolute rates follow it.

    python bench/ledger_sizes.py                       # 10k, 100k, 1M (`make bench`)
    python bench/ledger_sizes.py --sizes 10000,100000 --window 5000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from auditor import verify_apart
from honest_baseline import HonestLedger
from ledger_append import AGENCIES, person_events

from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import leaf_hash, verify_inclusion
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.workspace import Workspace

console = Console(width=160)


@dataclass
class Sized:
    size: int
    bytes_per_event: float
    rss_mib: tuple[float, float]  # all, the process's own
    rate: float
    baseline: float
    small: float  # the ledger kept at the smallest size, same window
    proof: tuple[float, float]  # p50, p99 in ms
    history: tuple[float, float]
    verify: float  # entries/s
    load: float


class Events:
    """Signed events of realistic journeys, made as needed (a million held at once
    would be gigabytes); remembers some people for history queries."""

    def __init__(self, ws: Workspace) -> None:
        self._rng = random.Random(1)
        self._signers = {org: ws.signer(org) for org in AGENCIES}
        self._today = dt.datetime.now(dt.UTC).date()
        self.people: list[str] = []

    def take(self, n: int) -> Iterator[SignedTransaction]:
        made = 0
        while True:
            for org, event in person_events(self._rng, self._today):
                if made == n:
                    return
                if event["type"] == "consent.granted" and (
                    len(self.people) < 10_000 or self._rng.random() < 0.01
                ):
                    self.people.append(str(event["pid"]))
                yield sign_proposal(self._signers[org], "submit", [event])
                made += 1


def _batches(events: Iterator[SignedTransaction], batch: int) -> Iterator[list[SignedTransaction]]:
    chunk: list[SignedTransaction] = []
    for tx in events:
        chunk.append(tx)
        if len(chunk) == batch:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _append(ledger: EmbeddedLedger, batch: list[SignedTransaction]) -> None:
    for outcome in ledger.submit_many(batch):
        outcome.unwrap()


def _grow(
    ledger: EmbeddedLedger, honest: HonestLedger, events: Events, to: int, batch: int
) -> None:
    for txs in _batches(events.take(to - ledger.size()), batch):
        _append(ledger, txs)
        honest.append(txs)


def _window(
    ledger: EmbeddedLedger,
    honest: HonestLedger,
    small: EmbeddedLedger,
    events: Events,
    small_events: Events,
    n: int,
    batch: int,
) -> tuple[float, float, float]:
    """Events/s of the ledger, the baseline and the small ledger, batch by batch in turn:
    the same events to the first two (the baseline's commits signed and appended too),
    others of the same kind to the small one."""
    spent = [0.0, 0.0, 0.0]
    others = _batches(small_events.take(n), batch)
    for txs in _batches(events.take(n), batch):
        start = time.perf_counter()
        _append(ledger, txs)
        spent[0] += time.perf_counter() - start
        start = time.perf_counter()
        honest.append(txs)
        spent[1] += time.perf_counter() - start
        start = time.perf_counter()
        _append(small, next(others))
        spent[2] += time.perf_counter() - start
    return n / spent[0], n / spent[1], n / spent[2]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e3, cuts[98] * 1e3


def _proofs(ledger: EmbeddedLedger, ws: Workspace, n: int) -> tuple[float, float]:
    size = ledger.size()
    note = ledger.log.checkpoint(size)
    verifier = ckpt.NoteVerifier.from_vkey(ws.consortium.log_vkey)
    root = ckpt.open_checkpoint(note, verifier).checkpoint.root_hash
    rng = random.Random(size)
    took = []
    for _ in range(n):
        p = rng.randrange(size)
        start = time.perf_counter()
        proof = ledger.log.inclusion_proof(p, size)
        verify_inclusion(leaf_hash(ledger.log.entry(p)), p, size, proof, root)
        took.append(time.perf_counter() - start)
    return _percentiles(took)


def _histories(
    ledger: EmbeddedLedger, ws: Workspace, people: list[str], n: int
) -> tuple[float, float]:
    rng = random.Random(len(people))
    signer = ws.signer(AGENCIES[0])
    queries = [
        sign_proposal(signer, "history", [rng.choice(people), "deduplication"]) for _ in range(n)
    ]
    took = []
    for query in queries:
        start = time.perf_counter()
        ledger.evaluate(query)
        took.append(time.perf_counter() - start)
    return _percentiles(took)


def _disk(path: Path, size: int) -> float:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / size


def _rss_mib() -> tuple[float, float]:
    """Resident memory, and of it what is the process's own (not pages of the ledger's
    file that SQLite maps, which the OS may drop at any time)."""
    status = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)

    def mib(name: str) -> float:
        return int(fields[name].split()[0]) / 1024

    return mib("VmRSS"), mib("RssAnon")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--window", type=int, default=10_000, help="events appended per size")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=2000, help="proofs and histories")
    parser.add_argument("--dir", type=Path, help="where to build (default: a temporary one)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rows: list[Sized] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        ws = Workspace.create(Path(tmp) / "ws", replace(DEMO, name="bench"))
        ledger = EmbeddedLedger(
            ws.ledger_url, ws.consortium, ws.log_signer(), clock=lambda: dt.datetime.now(dt.UTC)
        )
        honest = HonestLedger(Path(tmp) / "honest.db")
        events = Events(ws)
        small_ws = Workspace.create(Path(tmp) / "small", replace(DEMO, name="bench-small"))
        small = EmbeddedLedger(
            small_ws.ledger_url,
            small_ws.consortium,
            small_ws.log_signer(),
            clock=lambda: dt.datetime.now(dt.UTC),
        )
        small_events = Events(small_ws)
        try:
            with console.status(f"growing the small ledger to {sizes[0]:,}"):
                for txs in _batches(small_events.take(sizes[0]), args.batch):
                    _append(small, txs)
            for size in sizes:
                with console.status(f"growing both ledgers to {size:,}"):
                    _grow(ledger, honest, events, size, args.batch)
                with console.status(f"at {size:,}: appending {args.window:,} to each"):
                    rate, baseline, at_small = _window(
                        ledger, honest, small, events, small_events, args.window, args.batch
                    )
                with console.status(f"at {size:,}: proofs and history"):
                    proof = _proofs(ledger, ws, args.samples)
                    history = _histories(ledger, ws, events.people, args.samples)
                grown = ledger.size()
                with console.status(f"at {size:,}: full verify of {grown:,} entries"):
                    verified, seconds = verify_apart(ws)
                    verify = verified / seconds
                rows.append(
                    Sized(
                        grown,
                        _disk(Path(tmp) / "ws" / "ledger.db", grown),
                        _rss_mib(),
                        rate,
                        baseline,
                        at_small,
                        proof,
                        history,
                        verify,
                        os.getloadavg()[0],
                    )
                )
                console.print(f"size {grown:,} done, load {os.getloadavg()[0]:.1f}")
        finally:
            ledger.close()
            honest.close()
            small.close()
    _print(rows, args.window, args.batch)


def _print(rows: list[Sized], window: int, batch: int) -> None:
    table = Table(
        title=f"embedded ledger by size ({os.cpu_count()} cores; append: {window:,} events in "
        f"batches of {batch:,} at each size, baseline = minimum honest ledger, same run)"
    )
    for column in (
        "entries",
        "bytes/event",
        "RSS / own MiB",
        "append ev/s",
        "baseline ev/s",
        "ratio",
        "÷ small, same run",
        "proof p50/p99 ms",
        "history p50/p99 ms",
        "verify entries/s",
        "load",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            f"{r.size:,}",
            f"{r.bytes_per_event:,.0f}",
            f"{r.rss_mib[0]:,.0f} / {r.rss_mib[1]:,.0f}",
            f"{r.rate:,.0f}",
            f"{r.baseline:,.0f}",
            f"{r.rate / r.baseline:.2f}",
            f"{r.rate / r.small:.2f}",
            f"{r.proof[0]:.2f} / {r.proof[1]:.2f}",
            f"{r.history[0]:.2f} / {r.history[1]:.2f}",
            f"{r.verify:,.0f}",
            f"{r.load:.1f}",
        )
    console.print(table)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        console.print(
            f"from {first.size:,} to {last.size:,} entries: append at {last.size:,} ÷ the "
            f"small ledger's in the same window {last.rate / last.small:.2f}× (÷ its own rate "
            f"at {first.size:,}: {last.rate / first.rate:.2f}×; ratio to the baseline "
            f"{(last.rate / last.baseline) / (first.rate / first.baseline):.2f}×), proof p99 "
            f"{last.proof[1] / first.proof[1]:.2f}×, history p99 "
            f"{last.history[1] / first.history[1]:.2f}×"
        )


if __name__ == "__main__":
    main()
