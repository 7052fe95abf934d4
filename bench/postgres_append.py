"""The same appends on SQLite and on PostgreSQL, in the same run: events/s each and the
ratio; and PostgreSQL without its run-ahead (embedded.simulation.foresee), to weigh it.

Both ledgers verify every signature, as in production, and commit durably (SQLite
synchronous=FULL; PostgreSQL fsync and synchronous_commit on). Rounds rotate the order
of the contenders, each round on fresh databases, so that the machine's load falls on
all alike; each round prints its figures, its ratios to SQLite and the load average.
Signing is done beforehand and not timed. Prints figures; asserts nothing.

    python bench/postgres_append.py                     # a throwaway local server
    python bench/postgres_append.py --pg postgresql+psycopg://user@host/
    LEDGER_GW_BENCH_PG=postgresql+psycopg://user@host/ make bench
    LEDGER_GW_BENCH_PG=local make bench                 # both, a throwaway server

A given server needs the right to create databases: each round makes its own and drops
it. Without --pg (or with `local`), the bench starts a throwaway cluster (initdb, pg_ctl; fsync on).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ledger_append import signed_events  # type: ignore[import-not-found]
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded import simulation
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.transaction import SignedTransaction
from ledger_gw.workspace import Workspace

console = Console()


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A fresh local cluster with the server's durable defaults; its URL, no database."""
    bindir = _pg_bin()
    if bindir is None:
        raise SystemExit("no PostgreSQL server here: install it, or give --pg URL")
    base = Path(tempfile.mkdtemp(prefix="ledger-gw-bench-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data}"
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"),
         "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(server: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server + "postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            settings = {
                row[0]: row[1]
                for row in conn.execute(
                    text(
                        "SELECT name, setting FROM pg_settings"
                        " WHERE name IN ('fsync', 'synchronous_commit')"
                    )
                )
            }
            if settings != {"fsync": "on", "synchronous_commit": "on"}:
                raise SystemExit(f"the server does not commit durably: {settings}")
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def append_rate(
    url: str, ws: Workspace, txs: list[SignedTransaction], batch: int
) -> tuple[float, float]:
    """Events/s in batches of `batch`, then one by one over the last tenth (the ledger
    already holds the rest)."""
    ledger = EmbeddedLedger(url, ws.consortium, ws.log_signer())
    try:
        singles = max(1, len(txs) // 10)
        bulk, tail = txs[:-singles], txs[-singles:]
        ledger.submit_many(bulk[:1])[0].unwrap()  # connect, create the tables
        start = time.perf_counter()
        for i in range(1, len(bulk), batch):
            for outcome in ledger.submit_many(bulk[i : i + batch]):
                outcome.unwrap()
        batched = (len(bulk) - 1) / (time.perf_counter() - start)
        start = time.perf_counter()
        for tx in tail:
            ledger.submit(tx)
        one_by_one = len(tail) / (time.perf_counter() - start)
        assert ledger.size() == len(txs)
        return batched, one_by_one
    finally:
        ledger.close()


@contextlib.contextmanager
def run_ahead(on: bool) -> Iterator[None]:
    """Without it, no batch is long enough to be run ahead of its turn."""
    kept = simulation.LOOKAHEAD_FROM
    simulation.LOOKAHEAD_FROM = kept if on else sys.maxsize
    try:
        yield
    finally:
        simulation.LOOKAHEAD_FROM = kept


def _ratio(a: list[tuple[float, float]], b: list[tuple[float, float]], i: int) -> str:
    """Each round's ratio is a same-moment comparison: the median of rounds' ratios."""
    return f"{statistics.median(x[i] / y[i] for x, y in zip(a, b, strict=True)):.2f}×"


CONTENDERS = ("sqlite", "postgresql", "pg, no run-ahead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default=os.environ.get("LEDGER_GW_BENCH_PG"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--events", type=int, default=11_000, help="per round and backend")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    given = args.pg not in (None, "", "local")
    server = contextlib.nullcontext(args.pg) if given else throwaway_postgres()
    figures: dict[str, list[tuple[float, float]]] = {c: [] for c in CONTENDERS}
    with tempfile.TemporaryDirectory() as tmp, server as pg:
        ws = Workspace.create(Path(tmp) / "ws", replace(DEMO, name="bench"))
        with console.status("signing"):
            rounds = [signed_events(ws, args.events, seed) for seed in range(args.rounds)]
        for r, txs in enumerate(rounds):
            # Rotate the order, so that none always follows another.
            order = CONTENDERS[r % 3 :] + CONTENDERS[: r % 3]
            for contender in order:
                if contender == "sqlite":
                    path = Path(tmp) / f"round{r}.db"
                    figure = append_rate(f"sqlite:///{path}", ws, txs, args.batch)
                    for leftover in Path(tmp).glob(f"round{r}.db*"):
                        leftover.unlink()
                else:
                    with fresh_database(pg) as url, run_ahead(contender == "postgresql"):
                        figure = append_rate(url, ws, txs, args.batch)
                figures[contender].append(figure)
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            console.print(f"round {r + 1}  (load {load})")
            base = figures["sqlite"][-1]
            for contender in CONTENDERS:
                b, o = figures[contender][-1]
                console.print(
                    f"  {contender:<17} batched {b:7,.0f} events/s ({b / base[0]:.2f}×)"
                    f"  one by one {o:6,.0f} events/s ({o / base[1]:.2f}×)"
                )
    table = Table(title=f"append on SQLite and PostgreSQL, {os.cpu_count()} cores")
    table.add_column("measure")
    for contender in CONTENDERS:
        table.add_column(contender, justify="right")
    table.add_column("PostgreSQL ÷ SQLite", justify="right")
    table.add_column("run-ahead on ÷ off", justify="right")
    for i, label in enumerate((f"batches of {args.batch}", "one by one")):
        table.add_row(
            f"append, {label} (events/s, median of {args.rounds})",
            *(f"{statistics.median(f[i] for f in figures[c]):,.0f}" for c in CONTENDERS),
            _ratio(figures["postgresql"], figures["sqlite"], i),
            _ratio(figures["postgresql"], figures["pg, no run-ahead"], i),
        )
    console.print(table)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"load average at the end: {load}")


if __name__ == "__main__":
    main()
