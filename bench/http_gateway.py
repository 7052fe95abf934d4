"""HTTP gateway benchmark: events/s through `ledger-gw serve` (its defaults), batch and single, and
history lookup latency (p50/p99) on a ledger preloaded with `--events` events. On Linux
it also prints the CPU time each process spent per batch event. Each rate has its ratio
to the minimum honest ledger (bench/honest_baseline.py) on as many signed events of the
same kind, in the same run: the same batches, and one commit each for singles.

Preloading goes straight into the embedded ledger with `submit_many` (signed, checked,
appended as usual) and its duration is printed. Prints figures; asserts nothing.

    make bench-http                      # 1,000,000 preloaded events (long)
    python bench/http_gateway.py --events 100000
    python bench/http_gateway.py --keep /var/tmp/bench-1m   # preload once, rerun at will
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import requests
from honest_baseline import honest_rates

from ledger_gw.bootstrap import open_gateway, serving_from_env
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.pseudonym import new_held_id
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.transaction import sign_proposal
from ledger_gw.workspace import Workspace

AGENCIES = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
JSON = "application/json"
TODAY = dt.datetime.now(dt.UTC).date()


def _grant(pid: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()), "type": "entitlement.granted",
        "entitlement_id": str(uuid.uuid4()), "pid": pid, "programme": "MPCA-2026",
        "assistance_type": "food", "modality": "voucher", "amount": "10", "currency": "USD",
        "start": TODAY.isoformat(), "end": (TODAY + dt.timedelta(days=30)).isoformat(),
    }  # fmt: skip


def preload(ws: Workspace, events: int, per_person: int = 5) -> list[str]:
    ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
    signers = {org: ws.signer(org) for org in AGENCIES}
    pids: list[str] = []
    done = 0
    started = time.perf_counter()
    try:
        while done < events:
            txs = []
            for _ in range(min(1000, events - done) // per_person or 1):
                pid = new_held_id()
                pids.append(pid)
                org = random.choice(AGENCIES)
                txs += [sign_proposal(signers[org], "submit", [_grant(pid)])
                        for _ in range(per_person)]  # fmt: skip
            ledger.submit_many(txs)
            done += len(txs)
            if done % 50_000 < len(txs):
                rate = done / (time.perf_counter() - started)
                print(f"  preloaded {done:,} events ({rate:,.0f}/s)", flush=True)
    finally:
        ledger.close()
    print(f"preload: {done:,} events in {time.perf_counter() - started:,.1f} s", flush=True)
    return pids


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _server_cpu(master: int) -> dict[str, float]:
    """CPU seconds so far of gunicorn's workers and of the appending process (Linux)."""
    totals = {"appender": 0.0, "workers": 0.0}
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == master:
                role = "appender" if b"appender" in (entry / "cmdline").read_bytes() else "workers"
                totals[role] += _cpu_seconds(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return totals


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workspace(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """A fresh preloaded workspace, or the one kept at --keep (preloaded on first use)."""
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-http-")) / "ws"
    pids_file = root / "bench-pids.json"
    if pids_file.exists():
        pids: list[str] = json.loads(pids_file.read_text())
        print(f"reusing the preloaded workspace {root}", flush=True)
        return root, pids
    ws = Workspace.create(root, DEMO)
    pids = preload(ws, args.events) if args.events else [new_held_id()]
    if args.keep:
        pids_file.write_text(json.dumps(pids))
    return root, pids


def run(args: argparse.Namespace) -> None:
    root, pids = _workspace(args)
    gw = open_gateway(GatewayConfig(directory=root))
    tokens = {org: issue_token(gw.store(org), "agency", "agency-writer")[1] for org in AGENCIES}
    gw.close()
    port = _free_port()
    serving = serving_from_env()  # what serve uses, given no options
    serve = ["serve", "--dir", str(root), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledger_gw.cli", *serve],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{url}/readyz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        local = threading.local()

        def session() -> requests.Session:
            if not hasattr(local, "s"):
                local.s = requests.Session()
            return local.s  # type: ignore[no-any-return]

        def batch_bodies(n: int) -> list[bytes]:
            events = ([_grant(random.choice(pids)) for _ in range(args.batch)] for _ in range(n))
            return [orjson.dumps({"events": batch}) for batch in events]

        def post_batch(i: int, body: bytes) -> int:
            org = AGENCIES[i % 3]
            headers = {"Authorization": f"Bearer {tokens[org]}", "Content-Type": JSON}
            r = session().post(f"{url}/v1/events/batch", data=body, timeout=120, headers=headers)
            return int(orjson.loads(r.content)["accepted"])

        def post_one(i: int) -> int:
            org = AGENCIES[i % 3]
            r = session().post(f"{url}/v1/events", json=_grant(random.choice(pids)), timeout=60,
                               headers={"Authorization": f"Bearer {tokens[org]}"})  # fmt: skip
            return int(r.status_code == 201)

        # Not timed: each worker's first requests open its ledger and connections.
        with ThreadPoolExecutor(args.clients) as pool:
            warm = sum(pool.map(post_batch, range(args.warmup), batch_bodies(args.warmup)))
        n_batches = max(1, args.batch_events // args.batch)
        # Made before the clock starts: the clients share the server's cores, and what
        # they spend making events is not the gateway's.
        bodies = batch_bodies(n_batches)
        linux = Path("/proc/self/stat").exists()
        cpu_before = _server_cpu(proc.pid) if linux else {}
        client_before = time.process_time()
        t = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            accepted = sum(pool.map(post_batch, range(n_batches), bodies))
        batch_rate = accepted / (time.perf_counter() - t)
        cpu = {k: v - cpu_before[k] for k, v in _server_cpu(proc.pid).items()} if linux else {}
        cpu["client"] = time.process_time() - client_before
        t = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            singles = sum(pool.map(post_one, range(args.single_events)))
        single_rate = singles / (time.perf_counter() - t)

        headers = {"Authorization": f"Bearer {tokens['AGENCY-A']}"}
        s = requests.Session()
        latencies = []
        for _ in range(args.lookups):
            pid = random.choice(pids)
            t = time.perf_counter()
            r = s.get(f"{url}/v1/persons/{pid}/history?purpose=deduplication", headers=headers,
                      timeout=30)  # fmt: skip
            latencies.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
        latencies.sort()
        honest_batch, honest_single = honest_rates(
            Workspace.load(root).signer(AGENCIES[0]),
            [_grant(random.choice(pids)) for _ in range(max(accepted, singles))],
            args.batch,
            singles,
        )
        p50 = statistics.median(latencies)
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        size = requests.get(f"{url}/readyz", timeout=10).json()["checks"]["ledger"]
        print(
            f"ledger: {size} entries; gunicorn {serving.workers} workers x {serving.threads} "
            "threads + 1 appending process; "
            f"{args.clients} clients"
        )
        print(
            f"batch  ({args.batch}/request): {accepted:,} events, {batch_rate:,.0f} events/s"
            f" (after {warm:,} untimed); minimum honest ledger, same batches: "
            f"{honest_batch:,.0f} events/s, ratio {batch_rate / honest_batch:.2f}"
        )
        per_event = ", ".join(f"{k} {v / accepted * 1e6:,.0f}" for k, v in cpu.items())
        print(f"  CPU per batch event (µs): {per_event}")
        print(
            f"single (1/request):   {singles:,} events, {single_rate:,.0f} events/s; minimum "
            f"honest ledger, one commit each: {honest_single:,.0f} events/s, "
            f"ratio {single_rate / honest_single:.2f}"
        )
        print(f"history lookup: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({args.lookups} lookups)")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(root.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to preload")
    parser.add_argument("--batch-events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=500, help="events per batch request")
    parser.add_argument("--warmup", type=int, default=8, help="batch requests before timing")
    parser.add_argument("--single-events", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--keep", type=Path, help="workspace to preload once and reuse")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
