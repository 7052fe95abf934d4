"""Events/s through the Fabric backend on the local network (`network/network.sh up`).

Conflict-free writes (each event its own person and keys) from N concurrent clients,
each waiting for its commit; then queries. Prints figures; asserts nothing. Without
FABRIC_HOME or a running network it says so and exits 0.

    FABRIC_HOME=/opt/fabric python bench/fabric_submit.py [--events 600] [--clients 16 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_gw.bootstrap import fabric_ledger, fabric_profile_path
from ledger_gw.client import OrgClient

AGENCIES = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _grant(n: int) -> dict[str, Any]:
    person = "h." + "".join(_B32[(n >> (5 * i)) % 32] for i in range(6)) + uuid.uuid4().hex[:20]
    person = person[:28].translate(str.maketrans("0189", "abcd"))
    return {
        "event_id": str(uuid.uuid4()),
        "type": "entitlement.granted",
        "entitlement_id": str(uuid.uuid4()),
        "pid": person,
        "programme": "BENCH-2026",
        "assistance_type": "cash",
        "modality": "cash",
        "amount": "10.00",
        "currency": "USD",
        "start": "2026-01-01",
        "end": "2026-12-31",
    }


def _run(clients: list[OrgClient], total: int, work: str) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker(client: OrgClient) -> None:
        nonlocal errors
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            start = time.perf_counter()
            try:
                if work == "submit":
                    client.submit(_grant(n))
                else:
                    client.entitlements("h." + "a" * 26, "deduplication")
            except Exception:
                with lock:
                    errors += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began, latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 32])
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    console = Console()
    profile = fabric_profile_path(args.profile)
    if not os.environ.get("FABRIC_HOME"):
        console.print("skipped: FABRIC_HOME is not set (no Fabric binaries, no local network)")
        return 0
    if not profile.exists():
        console.print(f"skipped: no network profile at {profile}: run network/network.sh up")
        return 0
    ledger, ws = fabric_ledger(profile)
    table = Table(title=f"Fabric backend, local network ({profile.parent})")
    for column in ("work", "clients", "ops", "ops/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    try:
        for n_clients in args.clients:
            clients = [
                OrgClient(ledger, ws.signer(AGENCIES[i % len(AGENCIES)])) for i in range(n_clients)
            ]
            total = args.events if n_clients > 1 else min(args.events, 20)
            for work in ("submit", "evaluate"):
                elapsed, lat, errors = _run(clients, total if work == "submit" else total * 2, work)
                lat.sort()
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
                table.add_row(
                    work,
                    str(n_clients),
                    str(len(lat)),
                    f"{len(lat) / elapsed:.0f}",
                    f"{statistics.median(lat) * 1000:.0f}" if lat else "-",
                    f"{p99 * 1000:.0f}",
                    str(errors),
                )
    finally:
        ledger.close()
    console.print(table)
    console.print("submit = endorse (2 of 3 agencies) + order (Raft) + wait for commit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
