"""Many clients, one event each: `POST /v1/events` from 64 concurrent keep-alive clients
through a real `ledger-gw serve`, against the same server's batch endpoint, and each
against the minimum honest ledger (bench/honest_baseline.py) on the same kind of signed
events in the same rounds: one commit each for singles, the same batches for batches.

The clients are one asyncio loop writing raw HTTP/1.1 on kept-alive sockets: they share
the server's two cores, so they must cost little, and their CPU is printed apart from
the server's. Every event is signed and its signature verified as in production. Prints
figures; asserts nothing.

    python bench/http_single.py
    python bench/http_single.py --clients 64 --events 6000 --rounds 2
    python bench/http_single.py --workers 4 --threads 8     # serve's options
    python bench/http_single.py --baseline /tmp/base   # alternately: `git archive` of another
    python bench/http_single.py --other-options "--threads 32"   # alternately: other options
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
from honest_baseline import honest_rates
from http_gateway import AGENCIES, _free_port, _grant, _server_cpu

from ledger_gw.bootstrap import open_gateway
from ledger_gw.demo.consortium import DEMO
from ledger_gw.pseudonym import new_held_id
from ledger_gw.services.access import issue_token
from ledger_gw.services.config import GatewayConfig
from ledger_gw.workspace import Workspace


class Client:
    """One kept-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        self.writer.write(head + self.auth + b"\r\n" + body)
        status_line = await self.reader.readuntil(b"\r\n")
        length, close = 0, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length)
        if close:
            self.close()
        return int(status_line.split()[1]), data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _singles(
    port: int, tokens: Sequence[str], clients: int, events: int
) -> tuple[int, float, list[float]]:
    """(accepted, seconds, latencies in ms) of `events` single requests over `clients`,
    each client writing about persons of its own, five events each."""
    per_client = events // clients
    bodies = [_events(per_client) for _ in range(clients)]
    conns = [Client(port, tokens[i % len(tokens)]) for i in range(clients)]
    latencies: list[float] = []

    async def one(conn: Client, mine: list[bytes]) -> int:
        ok = 0
        for body in mine:
            t = time.perf_counter()
            status, _ = await conn.post("/v1/events", body)
            latencies.append((time.perf_counter() - t) * 1000)
            ok += status == 201
        return ok

    # Connections open, and each worker thread warm, before the clock starts.
    await asyncio.gather(
        *(c.post("/v1/events", orjson.dumps(_grant(new_held_id()))) for c in conns)
    )
    t = time.perf_counter()
    accepted = sum(await asyncio.gather(*(one(c, b) for c, b in zip(conns, bodies, strict=True))))
    seconds = time.perf_counter() - t
    for c in conns:
        c.close()
    return accepted, seconds, latencies


def _events(n: int, per_person: int = 5) -> list[bytes]:
    pids = [new_held_id() for _ in range(n // per_person + 1)]
    return [orjson.dumps(_grant(pids[i // per_person])) for i in range(n)]


def _batch_body(size: int) -> bytes:
    return b'{"events":[' + b",".join(_events(size)) + b"]}"


async def _batches(
    port: int, tokens: Sequence[str], clients: int, events: int, size: int
) -> tuple[int, float]:
    n = max(clients, events // size)
    bodies = [_batch_body(size) for _ in range(n)]
    conns = [Client(port, tokens[i % len(tokens)]) for i in range(clients)]

    async def one(conn: Client, mine: list[bytes]) -> int:
        accepted = 0
        for body in mine:
            status, data = await conn.post("/v1/events/batch", body)
            assert status == 200, data[:300]
            accepted += int(orjson.loads(data)["accepted"])
        return accepted

    t = time.perf_counter()
    accepted = sum(await asyncio.gather(*(one(c, bodies[i::clients]) for i, c in enumerate(conns))))
    seconds = time.perf_counter() - t
    for c in conns:
        c.close()
    return accepted, seconds


def _per_event(cpu: dict[str, float], events: int) -> str:
    """Each process's CPU per event, and the rate their sum allows on this machine's
    cores were nothing else to run: what any change to the server must move."""
    each = ", ".join(f"{k} {v / max(events, 1) * 1e6:,.0f}" for k, v in cpu.items())
    total = sum(cpu.values()) / max(events, 1)
    if not total:
        return each
    cores = os.cpu_count() or 1
    return f"{each}; all {total * 1e6:,.0f}: at most {cores / total:,.0f} events/s on {cores} cores"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Server:
    """`ledger-gw serve` from a source tree, on a fresh workspace of its own."""

    def __init__(self, name: str, tree: Path, options: list[str]) -> None:
        self.name = name
        self.root = Path(tempfile.mkdtemp(prefix="bench-single-")) / "ws"
        Workspace.create(self.root, DEMO)
        gw = open_gateway(GatewayConfig(directory=self.root))
        self.tokens = [issue_token(gw.store(o), "agency", "agency-writer")[1] for o in AGENCIES]
        gw.close()
        self.port = _free_port()
        command = [sys.executable, "-m", "ledger_gw.cli", "serve", "--dir", str(self.root)]
        command += ["--host", "127.0.0.1", "--port", str(self.port), *options]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.proc = subprocess.Popen(
            command, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.singles: list[float] = []
        self.batches: list[float] = []

    def start(self, batch: int) -> None:
        _wait_ready(self.port)
        # Untimed: each worker opens its ledger and connections on its first requests.
        asyncio.run(_batches(self.port, self.tokens, 4, 8 * batch, batch))

    def single_round(self, clients: int, events: int) -> None:
        cpu0, client0 = _server_cpu(self.proc.pid), time.process_time()
        accepted, seconds, lat = asyncio.run(_singles(self.port, self.tokens, clients, events))
        cpu = {k: v - cpu0[k] for k, v in _server_cpu(self.proc.pid).items()}
        cpu["client"] = time.process_time() - client0
        lat.sort()
        self.singles.append(accepted / seconds)
        print(
            f"{self.name} single ({clients} clients, 1/request): {accepted:,} accepted, "
            f"{accepted / seconds:,.0f} events/s, p50 {statistics.median(lat):.1f} ms, "
            f"p99 {lat[int(len(lat) * 0.99) - 1]:.1f} ms; load {_load()}",
            flush=True,
        )
        print(f"  CPU per event (µs): {_per_event(cpu, accepted)}", flush=True)

    def batch_round(self, clients: int, events: int, size: int) -> None:
        cpu0, client0 = _server_cpu(self.proc.pid), time.process_time()
        accepted, seconds = asyncio.run(_batches(self.port, self.tokens, clients, events, size))
        cpu = {k: v - cpu0[k] for k, v in _server_cpu(self.proc.pid).items()}
        cpu["client"] = time.process_time() - client0
        self.batches.append(accepted / seconds)
        print(
            f"{self.name} batch  ({clients} clients, {size}/request): {accepted:,} accepted, "
            f"{accepted / seconds:,.0f} events/s; load {_load()}",
            flush=True,
        )
        print(f"  CPU per event (µs): {_per_event(cpu, accepted)}", flush=True)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.root.parent, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    options = [f"--{k}={v}" for k in ("workers", "threads") if (v := getattr(args, k))]
    tree = Path(__file__).resolve().parent.parent
    servers = [Server("this", tree, options)]
    if args.baseline:
        servers.append(Server("baseline", args.baseline.resolve(), options))
    if args.other_options:
        servers.append(Server("options", tree, args.other_options.split()))
    try:
        for server in servers:
            server.start(args.batch)
        print(
            f"ledger-gw serve {' '.join(options) or '(its defaults)'}; every signature "
            f"verified, as in production; load {_load()}",
            flush=True,
        )
        signer = Workspace.load(servers[0].root).signer(AGENCIES[0])
        honest: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            for server in servers:
                server.single_round(args.clients, args.events)
                server.batch_round(args.batch_clients, args.batch_events, args.batch)
            events = [_grant(new_held_id()) for _ in range(max(args.events, args.batch_events))]
            honest.append(honest_rates(signer, events, args.batch, args.events))
            print(
                f"minimum honest ledger, same events: batches of {args.batch} "
                f"{honest[-1][0]:,.0f} events/s, one commit each {honest[-1][1]:,.0f} events/s; "
                f"load {_load()}",
                flush=True,
            )
        honest_batch = statistics.median(b for b, _ in honest)
        honest_single = statistics.median(o for _, o in honest)
        print(
            f"minimum honest ledger median: batches {honest_batch:,.0f} events/s, "
            f"one commit each {honest_single:,.0f} events/s"
        )
        this = servers[0]
        for server in servers:
            single, batch = statistics.median(server.singles), statistics.median(server.batches)
            print(
                f"{server.name} median: single {single:,.0f} events/s "
                f"({single / honest_single:.2f}× the honest ledger one commit each), batch "
                f"{batch:,.0f} events/s ({batch / honest_batch:.2f}× its batches), "
                f"single/batch {single / batch:.2f}"
                + (
                    ""
                    if server is this
                    else f"; this/{server.name} single "
                    f"{statistics.median(this.singles) / single:.2f}"
                )
            )
        print(f"load {_load()}")
    finally:
        for server in servers:
            server.stop()


def _wait_ready(port: int) -> None:
    import requests

    for _ in range(300):
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit("the gateway did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--events", type=int, default=6_400, help="single events per round")
    parser.add_argument("--batch", type=int, default=500, help="events per batch request")
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--batch-events", type=int, default=20_000, help="batch events per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, help="serve's --workers (default: its own)")
    parser.add_argument("--threads", type=int, help="serve's --threads (default: its own)")
    parser.add_argument(
        "--baseline", type=Path, help="another source tree (git archive) to serve alternately"
    )
    parser.add_argument(
        "--other-options", help="serve's options for a third server of this tree, alternately"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
