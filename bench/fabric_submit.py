"""Committed transactions/s through the Fabric backend on the local network, and their CPU.

Conflict-free writes (each event its own person and keys) from N concurrent clients, each
waiting for its commit, until the network saturates. For each run it prints committed
tx/s, latency, and the CPU the chaincode servers spent per endorsement and the peers and
orderers per transaction (from /proc/<pid>/stat of the processes `network.sh` started),
with the machine's load. `--baseline NAME` runs the same client, alternately, against a
chaincode deployed beside the contract (`network.sh deploy NAME ...`, e.g. a bare
chaincode doing one PutState) and prints the ratio. Asserts nothing. Without FABRIC_HOME
or a running network it says so and exits 0.

    FABRIC_HOME=/opt/fabric python bench/fabric_submit.py [--events 600] [--clients 32]
        [--baseline bare] [--rounds 2] [--queries]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_gw.bootstrap import fabric_profile_path
from ledger_gw.client import OrgClient
from ledger_gw.fabric.gateway import FabricLedger, FabricProfile
from ledger_gw.workspace import Workspace

AGENCIES = ("AGENCY-A", "AGENCY-B", "AGENCY-C")
ENDORSEMENTS_PER_TX = 2  # the policy: any two of the three agencies
CONTRACT = "ledger"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_TICK = os.sysconf("SC_CLK_TCK")


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


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _processes(state: Path) -> dict[str, int]:
    """name → PID of what `network.sh` started (each recorded in pids/NAME.pid)."""
    return {p.stem: int(p.read_text()) for p in sorted((state / "pids").glob("*.pid"))}


def _cpu_by_group(pids: dict[str, int], chaincode: str) -> dict[str, float]:
    """CPU seconds so far of the chaincode's servers, the peers, the orderers, and this
    process (the client)."""
    prefix = "chaincode-" if chaincode == CONTRACT else f"chaincode-{chaincode}-"
    servers = [
        pid
        for name, pid in pids.items()
        if name.startswith(prefix) and name.removeprefix(prefix) in (*AGENCIES, "AUDITOR-X")
    ]
    times = os.times()
    return {
        "chaincode": sum(map(_cpu_seconds, servers)),
        "peers": sum(_cpu_seconds(p) for n, p in pids.items() if n.startswith("peer-")),
        "orderers": sum(_cpu_seconds(p) for n, p in pids.items() if n.startswith("orderer")),
        "client": times.user + times.system,
    }


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclasses.dataclass
class Run:
    chaincode: str
    ops: int
    errors: int
    elapsed: float
    latencies: list[float]
    cpu: dict[str, float]  # seconds spent during the run, by group
    machine_busy: float  # fraction of all cores busy during the run

    @property
    def rate(self) -> float:
        return self.ops / self.elapsed

    def ms_per(self, group: str, per: int = 1) -> float:
        return 1000 * self.cpu[group] / max(1, self.ops * per)


def _drive(clients: list[OrgClient], total: int, work: Callable[[OrgClient, int], object]) -> Any:
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
                work(client, n)
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


def _submit_run(
    ledger: FabricLedger, ws: Workspace, chaincode: str, n_clients: int, total: int, state: Path
) -> Run:
    clients = [OrgClient(ledger, ws.signer(AGENCIES[i % len(AGENCIES)])) for i in range(n_clients)]
    pids = _processes(state)
    before, busy0 = _cpu_by_group(pids, chaincode), _machine_busy()
    elapsed, latencies, errors = _drive(clients, total, lambda c, n: c.submit(_grant(n)))
    after, busy1 = _cpu_by_group(pids, chaincode), _machine_busy()
    cpu = {group: after[group] - before[group] for group in before}
    busy = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    return Run(chaincode, len(latencies), errors, elapsed, latencies, cpu, busy)


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=600, help="submits per run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument(
        "--baseline", nargs="*", default=[], help="chaincodes deployed with network.sh deploy"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--queries", action="store_true", help="also time evaluate calls")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    console = Console(width=150)
    path = fabric_profile_path(args.profile)
    if not os.environ.get("FABRIC_HOME"):
        console.print("skipped: FABRIC_HOME is not set (no Fabric binaries, no local network)")
        return 0
    if not path.exists():
        console.print(f"skipped: no network profile at {path}: run network/network.sh up")
        return 0
    profile = FabricProfile.load(path)
    assert profile.workspace is not None
    ws = Workspace.load(profile.workspace)
    signers = {org: ws.signer(org) for org in ws.consortium.organisations}
    names = [CONTRACT, *args.baseline]
    ledgers = {
        name: FabricLedger(dataclasses.replace(profile, chaincode=name), signers) for name in names
    }
    load_before = os.getloadavg()
    runs: list[Run] = []
    try:
        for name in names:  # warm up: connections, chaincode streams
            _submit_run(ledgers[name], ws, name, 4, 20, path.parent)
        for _ in range(args.rounds):
            for name in names:
                runs.append(
                    _submit_run(ledgers[name], ws, name, args.clients, args.events, path.parent)
                )
        if args.queries:
            client = OrgClient(ledgers[CONTRACT], ws.signer(AGENCIES[0]))
            elapsed, lat, errors = _drive(
                [client] * args.clients,
                args.events,
                lambda c, n: c.entitlements("h." + "a" * 26, "deduplication"),
            )
            console.print(
                f"evaluate: {len(lat) / elapsed:.0f}/s, p50 {_ms(lat, 0.5)} ms, errors {errors}"
            )
    finally:
        for ledger in ledgers.values():
            ledger.close()
    table = Table(title=f"Fabric submit at saturation, {args.clients} clients ({path.parent})")
    for column in (
        "chaincode",
        "tx",
        "tx/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "cc ms/endorsement",
        "peers ms/tx",
        "orderers ms/tx",
        "client ms/tx",
        "machine busy",
    ):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            run.chaincode,
            str(run.ops),
            f"{run.rate:.0f}",
            _ms(run.latencies, 0.5),
            _ms(run.latencies, 0.99),
            str(run.errors),
            f"{run.ms_per('chaincode', ENDORSEMENTS_PER_TX):.2f}",
            f"{run.ms_per('peers'):.2f}",
            f"{run.ms_per('orderers'):.2f}",
            f"{run.ms_per('client'):.2f}",
            f"{run.machine_busy:.0%}",
        )
    console.print(table)
    load_after = os.getloadavg()
    console.print(
        f"machine: {os.cpu_count()} cores, load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    console.print("submit = endorse (2 of 3 agencies) + order (Raft) + wait for commit")
    rates = {n: statistics.mean(r.rate for r in runs if r.chaincode == n) for n in names}
    cc = {
        n: statistics.mean(
            r.ms_per("chaincode", ENDORSEMENTS_PER_TX) for r in runs if r.chaincode == n
        )
        for n in names
    }
    for baseline in args.baseline:
        console.print(
            f"{CONTRACT} {rates[CONTRACT]:.0f} tx/s, {baseline} {rates[baseline]:.0f} tx/s:"
            f" ratio {rates[CONTRACT] / rates[baseline]:.2f}; chaincode CPU per endorsement"
            f" {cc[CONTRACT]:.2f} ms vs {cc[baseline]:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
