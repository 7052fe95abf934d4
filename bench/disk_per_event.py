"""Bytes on disk per event in the embedded ledger, table by table.

Builds a ledger of N events (realistic journeys, as `ledger_append.py` signs them) in
batches, then reads SQLite's `dbstat` table: the pages each table and index holds,
and the bytes of payload in them. Prints bytes per event for each, the whole file's,
the mean log entry's, and the projection to a million events. Asserts nothing.

    python bench/disk_per_event.py --events 50000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from ledger_append import signed_events

from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.workspace import Workspace

console = Console()


def build(ws: Workspace, n: int, batch: int) -> None:
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


def measure(path: Path) -> tuple[list[tuple[str, int, int]], int, float]:
    """(name, bytes in pages, bytes of payload) per table and index; the log's length
    and its mean entry."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = db.execute(
            "SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
        events, mean_entry = db.execute("SELECT count(*), avg(length(entry)) FROM log").fetchone()
    return [(str(n), int(p), int(b)) for n, p, b in rows], int(events), float(mean_entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create(Path(tmp) / "ws", replace(DEMO, name="bench"))
        start = time.perf_counter()
        with console.status(f"appending {args.events:,} events"):
            build(ws, args.events, args.batch)
        seconds = time.perf_counter() - start
        db_path = Path(ws.ledger_url.removeprefix("sqlite:///"))
        tables, events, mean_entry = measure(db_path)
        file_bytes = db_path.stat().st_size
    table = Table(title=f"bytes on disk per event ({events:,} events, batches of {args.batch})")
    for column in ("table or index", "pages / event", "payload / event"):
        table.add_column(column, justify="right" if column != "table or index" else "left")
    for name, pages, payload in tables:
        table.add_row(name, f"{pages / events:,.0f}", f"{payload / events:,.0f}")
    table.add_row("whole file", f"{file_bytes / events:,.0f}", "")
    table.add_row("mean log entry", "", f"{mean_entry:,.0f}")
    table.add_row("projected file at 1M events", f"{file_bytes / events * 1e6 / 1e9:,.2f} GB", "")
    console.print(table)
    load = os.getloadavg()[0]
    console.print(f"built in {seconds:,.0f} s; load average {load:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
