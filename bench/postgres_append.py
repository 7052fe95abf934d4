"""The same appends on SQLite and on PostgreSQL, in the same run: events/s each and the
ratio, and both beside the minimum honest ledger (bench/honest_baseline.py).

The ledgers verify every signature, as in production, and commit durably (SQLite
synchronous=FULL; PostgreSQL fsync and synchronous_commit on); so does the baseline.
Each round, on fresh databases, the contenders take turns, a batch (or ten events one
by one) each, in a rotating order, so that the machine's load falls on all alike even
when it shifts from second to second; each round prints its figures, their ratios to
SQLite and to the baseline, and the load average.
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
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from honest_baseline import HonestLedger  # type: ignore[import-not-found]
from ledger_append import signed_events  # type: ignore[import-not-found]
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.transaction import SignedTransaction
from ledger_gw.workspace import Workspace

console = Console(width=120)


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


Figure = tuple[float, float]  # events/s batched, one by one
BASELINE = "honest baseline"
CONTENDERS = ("sqlite", "postgresql", BASELINE)


class Contender:
    """One ledger of the race, and the time it spent appending."""

    def __init__(self, name: str, txs: list[SignedTransaction]) -> None:
        self.name = name
        self.txs = txs
        self.spent = {"batched": 0.0, "one by one": 0.0}

    def commit(self, txs: list[SignedTransaction]) -> None:
        raise NotImplementedError

    def size(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def append(self, part: str, txs: list[SignedTransaction]) -> None:
        start = time.perf_counter()
        if part == "batched":
            self.commit(txs)
        else:
            for tx in txs:
                self.commit([tx])
        self.spent[part] += time.perf_counter() - start


class Ledger(Contender):
    """The embedded ledger on `url`."""

    def __init__(self, name: str, url: str, ws: Workspace, txs: list[SignedTransaction]) -> None:
        super().__init__(name, txs)
        self.ledger = EmbeddedLedger(url, ws.consortium, ws.log_signer())
        self.commit(txs[:1])  # connect, create the tables

    def commit(self, txs: list[SignedTransaction]) -> None:
        for outcome in self.ledger.submit_many(txs):
            outcome.unwrap()

    def size(self) -> int:
        return self.ledger.size()

    def close(self) -> None:
        self.ledger.close()


class Baseline(Contender):
    """The minimum honest ledger, appending the same events the same way."""

    def __init__(self, path: Path, txs: list[SignedTransaction]) -> None:
        super().__init__(BASELINE, txs)
        self.honest = HonestLedger(path)
        self.commit(txs[:1])

    def commit(self, txs: list[SignedTransaction]) -> None:
        self.honest.append(txs)

    def size(self) -> int:
        return self.honest.size

    def close(self) -> None:
        self.honest.close()


def race(contenders: list[Contender], batch: int, singles_turn: int) -> dict[str, Figure]:
    """Each contender in turn appends a batch (then a few events one by one), the order
    rotating: they share the machine's load moment by moment. Events/s in batches of
    `batch`, then one by one over the last tenth (the ledger already holds the rest)."""
    txs = contenders[0].txs
    singles = max(1, len(txs) // 10)
    bulk = len(txs) - singles
    turns = [("batched", i, min(i + batch, bulk)) for i in range(1, bulk, batch)]
    turns += [("one by one", i, i + singles_turn) for i in range(bulk, len(txs), singles_turn)]
    for n, (part, begin, end) in enumerate(turns):
        for c in contenders[n % len(contenders) :] + contenders[: n % len(contenders)]:
            c.append(part, c.txs[begin:end])
    for c in contenders:
        assert c.size() == len(txs)
        c.close()
    return {
        c.name: ((bulk - 1) / c.spent["batched"], singles / c.spent["one by one"])
        for c in contenders
    }


def _ratio(a: list[Figure], b: list[Figure], i: int) -> str:
    """Each round's ratio is a same-moment comparison: the median of rounds' ratios."""
    return f"{statistics.median(x[i] / y[i] for x, y in zip(a, b, strict=True)):.2f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default=os.environ.get("LEDGER_GW_BENCH_PG"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--events", type=int, default=11_000, help="per round and backend")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--singles-turn", type=int, default=10, help="events one by one per contender's turn"
    )
    args = parser.parse_args()
    given = args.pg not in (None, "", "local")
    server = contextlib.nullcontext(args.pg) if given else throwaway_postgres()
    figures: dict[str, list[Figure]] = {c: [] for c in CONTENDERS}
    with tempfile.TemporaryDirectory() as tmp, server as pg:
        ws = Workspace.create(Path(tmp) / "ws", replace(DEMO, name="bench"))
        with console.status("signing"):
            rounds = [signed_events(ws, args.events, seed) for seed in range(args.rounds)]
        for r, txs in enumerate(rounds):
            with contextlib.ExitStack() as stack:
                urls = {
                    "sqlite": f"sqlite:///{Path(tmp) / f'round{r}.db'}",
                    "postgresql": stack.enter_context(fresh_database(pg)),
                }
                contenders: list[Contender] = [
                    Ledger(c, urls[c], ws, txs) for c in CONTENDERS if c != BASELINE
                ]
                contenders.append(Baseline(Path(tmp) / f"round{r}-honest.db", txs))
                result = race(contenders, args.batch, args.singles_turn)
            for leftover in Path(tmp).glob(f"round{r}*.db*"):
                leftover.unlink()
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            console.print(f"round {r + 1}  (load {load})")
            sqlite, honest = result["sqlite"], result[BASELINE]
            for contender in CONTENDERS:
                figures[contender].append(result[contender])
                b, o = result[contender]
                console.print(
                    f"  {contender:<17} batched {b:7,.0f} events/s"
                    f" ({b / sqlite[0]:.2f}× SQLite, {b / honest[0]:.2f}× baseline)"
                    f"  one by one {o:6,.0f} events/s"
                    f" ({o / sqlite[1]:.2f}×, {o / honest[1]:.2f}×)"
                )
    table = Table(
        title=f"append, events/s (median of {args.rounds} rounds), {os.cpu_count()} cores"
    )
    table.add_column("measure")
    for header in ("SQLite", "PostgreSQL", "baseline", "PG ÷ SQLite", "SQLite ÷ base", "PG ÷ base"):
        table.add_column(header, justify="right")
    for i, label in enumerate((f"batches of {args.batch}", "one by one")):
        table.add_row(
            label,
            *(f"{statistics.median(f[i] for f in figures[c]):,.0f}" for c in CONTENDERS),
            _ratio(figures["postgresql"], figures["sqlite"], i),
            _ratio(figures["sqlite"], figures[BASELINE], i),
            _ratio(figures["postgresql"], figures[BASELINE], i),
        )
    console.print(table)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"load average at the end: {load}")


if __name__ == "__main__":
    main()
