"""Bytes on disk per event in the embedded ledger, table by table.

Builds a ledger of N events (realistic journeys, as `ledger_append.py` signs them) in
batches, then reads SQLite's `dbstat` table: the pages each table and index holds, and
the bytes of payload in them. Prints bytes per event for each, the whole file's, the
mean stored log entry's and the projection to a million events. With ``--baseline DIR``
(a checkout of another revision), the same is measured there in the same run, and the
ratio printed. Asserts nothing.

    python bench/disk_per_event.py --events 50000 --baseline /tmp/main-checkout
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from verify_full import build

from ledger_gw.demo.consortium import DEMO
from ledger_gw.workspace import Workspace

console = Console(width=120)


def measure(n: int, batch: int) -> dict[str, Any]:
    """Per table and index: bytes in pages and bytes of payload; the whole file; the
    mean stored entry; the seconds it took to build."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create(Path(tmp) / "ws", replace(DEMO, name="bench"))
        start = time.perf_counter()
        build(ws, n, batch)
        seconds = time.perf_counter() - start
        path = Path(ws.ledger_url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = db.execute(
                "SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name"
            ).fetchall()
            events, entry = db.execute("SELECT count(*), avg(length(entry)) FROM log").fetchone()
        return {
            "events": int(events),
            "tables": {str(name): [int(pages), int(payload)] for name, pages, payload in rows},
            "file": path.stat().st_size,
            "entry": float(entry),
            "seconds": seconds,
        }


def measure_at(baseline: Path, n: int, batch: int) -> dict[str, Any]:
    """The same measurement with the ledger code of another checkout, in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(baseline)}
    args = [sys.executable, __file__, "--events", str(n), "--batch", str(batch), "--json"]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out))


def _per_event(figure: float, events: int) -> str:
    return f"{figure / events:,.0f}"


def report(now: dict[str, Any], before: dict[str, Any] | None, batch: int) -> None:
    n = now["events"]
    table = Table(title=f"bytes on disk per event ({n:,} events, batches of {batch})")
    table.add_column("table or index")
    table.add_column("pages / event", justify="right")
    table.add_column("payload / event", justify="right")
    if before is not None:
        table.add_column("baseline pages / event", justify="right")
    names = sorted(
        set(now["tables"]) | set(before["tables"] if before else ()),
        key=lambda name: -max(now["tables"].get(name, [0])[0], 0),
    )
    for name in names:
        pages, payload = now["tables"].get(name, [0, 0])
        row = [name, _per_event(pages, n), _per_event(payload, n)]
        if before is not None:
            row.append(_per_event(before["tables"].get(name, [0])[0], before["events"]))
        table.add_row(*row)
    whole = ["whole file", _per_event(now["file"], n), ""]
    entry = ["mean stored log entry", "", f"{now['entry']:,.0f}"]
    projected = ["projected file at 1M events", f"{now['file'] / n * 1e6 / 1e9:,.2f} GB", ""]
    if before is not None:
        m = before["events"]
        whole.append(_per_event(before["file"], m))
        entry.append(f"{before['entry']:,.0f}")
        projected.append(f"{before['file'] / m * 1e6 / 1e9:,.2f} GB")
    for row in (whole, entry, projected):
        table.add_row(*row)
    console.print(table)
    if before is not None:
        ratio = (now["file"] / n) / (before["file"] / before["events"])
        console.print(f"file per event: {ratio:.2f} × the baseline's")
    built = f"built in {now['seconds']:,.0f} s"
    if before is not None:
        built += f" (baseline {before['seconds']:,.0f} s)"
    load = os.getloadavg()[0]
    console.print(f"{built}; load average {load:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--baseline", type=Path, help="a checkout to measure in the same run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.events, args.batch)))
        return
    before = None
    if args.baseline is not None:
        with console.status(f"baseline: appending {args.events:,} events"):
            before = measure_at(args.baseline, args.events, args.batch)
    with console.status(f"appending {args.events:,} events"):
        now = measure(args.events, args.batch)
    report(now, before, args.batch)


if __name__ == "__main__":
    main()
