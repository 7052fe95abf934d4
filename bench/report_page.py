"""The dashboard's report page at scale: the gateway's running totals against a full replay.

Builds an embedded ledger of N events (people's journeys from `ledger_append`), half
logged in one month and half in the next, which closes the first (the clock is moved
there, as certificates are valid from today), then times what one view of the report
page computes (the signed report and its delivery series) for a donor (the closed
month on the lattice) and for an agency (its weeks): the first view after a start
with the totals a gateway saved (a new gateway opened, as a start does, a few records
after they were saved), the same first view with nothing saved (the whole log folded:
the baseline), warm, and after one more write (into the open month); beside it, in
the same run, the full computation (every figure replayed from the log, each month's
lattice rebuilt). Prints figures, the ratios and the machine's load; asserts nothing.

    PYTHONPATH=. python bench/report_page.py --events 300000 [--workspace DIR]

``--workspace`` keeps the ledger built in DIR and reuses it on the next run (the same
day: its months are this one's and the next's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import time_machine
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from ledger_append import signed_events

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.reports.accountability import (
    ReportQuery,
    build_cube,
    compute_report,
    month_bounds,
)
from ledger_gw.services import reports, saved_totals
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway
from ledger_gw.workspace import Workspace

console = Console(width=180)
SAVE_EVERY = reports.SAVE_EVERY


def page(gw: Gateway, who: Caller, query: ReportQuery) -> None:
    """What the dashboard's report view computes."""
    reports.signed(gw, who, query)
    reports.weekly_deliveries(gw, query)


def full_page(gw: Gateway, query: ReportQuery) -> None:
    """The same figures, replayed from the whole log (the computation before)."""
    anchor = gw.log.anchor()
    records = list(gw.log.records(anchor))
    points = [query]
    for w in reports.weekly_deliveries(gw, query):  # the periods the series covers
        points.append(replace(query, start=w.start, end=w.end))
    for q in points:
        cube = build_cube(records, q.k, str(q.start)[:7]) if q.on_lattice else None
        compute_report(records, anchor=anchor.summary, query=q, cube=cube)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def start_and_view(config: GatewayConfig, who: Caller, query: ReportQuery, tune: int) -> float:
    """The first view of a new gateway (as after a start), from the totals saved."""
    cold()
    saved_totals.TUNE_GC = bool(tune)
    started = open_gateway(config)
    t = timed(lambda: page(started, who, query))
    started.close()
    saved_totals.TUNE_GC = True
    return t


def cold(gw: Gateway | None = None) -> None:
    """A gateway process just started (with ``gw``: one that never saved its totals)."""
    for cache in (reports._cache, reports._folds):
        cache.clear()
    if gw is not None:
        for saved in reports.state_dir(gw).glob("report-totals-*"):
            saved.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workspace", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        first, second = (_tenth(months) for months in (1, 2))
        root = args.workspace or Path(tmp) / "ws"
        if (root / "consortium.json").exists():
            ws = Workspace.load(root)
        else:
            ws = _build(root, args.events, args.batch, first, second)
        traveller = time_machine.travel(second + dt.timedelta(days=1), tick=True)
        traveller.start()
        config = GatewayConfig(directory=ws.root, offchain_url=f"sqlite:///{tmp}/off-{{org}}.db")
        gw = open_gateway(config)
        more = iter(signed_events(ws, 50, seed=int(time.time())))
        month = first.strftime("%Y-%m")
        views = {
            "donor": (
                Caller("bench", "DONOR-Y", Role.DONOR),
                ReportQuery(None, None, *month_bounds(month), on_lattice=True),
            ),
            "agency": (
                Caller("bench", "AGENCY-A", Role.AGENCY_READER),
                ReportQuery("AGENCY-A", None, None, None),
            ),
        }
        table = Table(title=f"report page, {gw.log.size()} log entries")
        columns = ("first view, saved totals", "nothing saved", "ratio", "saving")
        columns += ("saved, gc untuned", "untuned / tuned")
        columns += ("warm", "after a write", "full replay", "replay / after")
        for col in ("view", *columns):
            table.add_column(col, justify="right")
        for name, (who, query) in views.items():
            cold(gw)
            reports.SAVE_EVERY = sys.maxsize  # the baseline: the whole log folded, no save
            t_cold = timed(lambda: page(gw, who, query))  # noqa: B023
            reports.SAVE_EVERY = SAVE_EVERY
            saved = reports.saved_for(gw, query)
            assert saved is not None
            fold = next(iter(reports._folds.values()))
            t_save = timed(lambda: saved.save(fold.aggregates, fold.anchor))  # noqa: B023
            for _ in range(3):  # records logged after the totals were saved
                gw.ledger.submit(next(more))
            t_saved, t_untuned = (start_and_view(config, who, query, tune) for tune in (1, 0))
            page(gw, who, query)  # this gateway warm again
            t_warm = timed(lambda: page(gw, who, query))  # noqa: B023
            gw.ledger.submit(next(more))
            t_write = timed(lambda: page(gw, who, query))  # noqa: B023
            t_full = timed(lambda: full_page(gw, query))  # noqa: B023
            table.add_row(
                name,
                f"{t_saved * 1000:.0f} ms",
                f"{t_cold:.2f} s",
                f"{t_cold / t_saved:.0f}x",
                f"{t_save * 1000:.0f} ms, {saved.path.stat().st_size / 1e6:.0f} MB",
                f"{t_untuned * 1000:.0f} ms",
                f"{t_untuned / t_saved:.2f}x",
                f"{t_warm * 1000:.1f} ms",
                f"{t_write * 1000:.0f} ms",
                f"{t_full:.2f} s",
                f"{t_full / t_write:.0f}x",
            )
        console.print(table)
        load = os.getloadavg()
        console.print(
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
        )
        gw.close()
        traveller.stop()


def _build(root: Path, events: int, batch: int, *months: dt.datetime) -> Workspace:
    """A workspace whose ledger holds ``events`` events, half logged in each month."""
    ws = Workspace.create(root, replace(DEMO, name="bench"))
    t0 = time.perf_counter()
    halves = (events // 2, events - events // 2)
    for seed, (moment, n) in enumerate(zip(months, halves, strict=True), 1):
        with time_machine.travel(moment, tick=True):
            txs = signed_events(ws, n, seed=seed)
            ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
            for i in range(0, len(txs), batch):  # one checkpoint per batch
                ledger.submit_many(txs[i : i + batch])
            ledger.close()
    console.print(f"{events} events appended in {time.perf_counter() - t0:.1f} s")
    return ws


def _tenth(months: int) -> dt.datetime:
    """Noon on the 10th, ``months`` calendar months from now."""
    today = dt.datetime.now(dt.UTC)
    n = today.year * 12 + today.month - 1 + months
    return dt.datetime(n // 12, n % 12 + 1, 10, 12, tzinfo=dt.UTC)


if __name__ == "__main__":
    main()
