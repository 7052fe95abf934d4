"""Batches through the remote backend (a log node process, mutual TLS on loopback)
against the local embedded backend (the ledger in this process), in the same run.

Both append the same kind of events, signed by the agency beforehand (signing is not
timed); the ledger verifies every signature on both sides, as in production (the node
does it for the remote backend). Rounds alternate local and remote so that the
machine's load falls on both alike. The remote figure also counts the gateway's
receipts: it records every acknowledged append; checking them against the node's
checkpoints (each entry read back and under an inclusion proof made from the node's hash
tiles, the checkpoint's signature) is timed apart, as it runs in the background in
production. No witnesses on either side. The minimum honest ledger
(bench/honest_baseline.py) takes a turn each round on that round's events, in the
same batches, as the yardstick of both. Prints figures; asserts nothing.

    python bench/remote_batches.py                # 3 rounds of 4,000 events, batches of 500
    python bench/remote_batches.py --events 20000 --batch 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from honest_baseline import HonestLedger

from ledger_gw.bootstrap import remote_ledger
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.interfaces import Ledger
from ledger_gw.pseudonym import new_held_id
from ledger_gw.services.config import GatewayConfig
from ledger_gw.topology import prepare
from ledger_gw.topology.processes import free_port, start_node
from ledger_gw.transaction import SignedTransaction, sign_proposal
from ledger_gw.workspace import Workspace

ORG = "AGENCY-A"
TODAY = dt.datetime.now(dt.UTC).date()


def _grant() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()), "type": "entitlement.granted",
        "entitlement_id": str(uuid.uuid4()), "pid": new_held_id(), "programme": "MPCA-2026",
        "assistance_type": "food", "modality": "voucher", "amount": "10", "currency": "USD",
        "start": TODAY.isoformat(), "end": (TODAY + dt.timedelta(days=30)).isoformat(),
    }  # fmt: skip


def signed(ws: Workspace, n: int) -> list[SignedTransaction]:
    signer = ws.signer(ORG)
    return [sign_proposal(signer, "submit", [_grant()]) for _ in range(n)]


def append(ledger: Ledger, txs: list[SignedTransaction], batch: int) -> float:
    """Seconds to append ``txs`` in batches; every outcome must be a success."""
    start = time.perf_counter()
    for i in range(0, len(txs), batch):
        for outcome in ledger.submit_many(txs[i : i + batch]):
            outcome.unwrap()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000, help="per backend and round")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--skip-receipts", action="store_true", help="do not time the receipts check"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        operator = Workspace.create(Path(tmp) / "operator", replace(DEMO, name="bench"))
        layout = prepare(operator.root, Path(tmp) / "site", [ORG], [], {})
        node = start_node(layout.node, free_port())
        agency = Workspace.load(layout.agency(ORG))
        config = GatewayConfig(
            directory=agency.root, backend="remote", log_url=node.url, sync_interval_s=3600
        )
        remote = remote_ledger(agency, config, ORG, agency.signer(ORG))
        local = EmbeddedLedger(operator.ledger_url, operator.consortium, operator.log_signer())
        honest = HonestLedger(Path(tmp) / "honest.db")
        totals = {"local": 0.0, "remote": 0.0, "honest": 0.0}
        try:
            for ledger, ws in ((local, operator), (remote, agency)):  # warm up, untimed
                append(ledger, signed(ws, args.batch), args.batch)
            for n in range(1, args.rounds + 1):
                for name, ledger, ws in (("local", local, operator), ("remote", remote, agency)):
                    txs = signed(ws, args.events)
                    seconds = append(ledger, txs, args.batch)
                    totals[name] += seconds
                    print(f"round {n} {name:<6} {args.events / seconds:>8,.0f} events/s")
                start = time.perf_counter()
                for i in range(0, len(txs), args.batch):
                    honest.append(txs[i : i + args.batch])
                totals["honest"] += time.perf_counter() - start
            start = time.perf_counter()
            checked = None if args.skip_receipts else remote.receipts.check()
            t_check = time.perf_counter() - start
        finally:
            honest.close()
            remote.close()
            local.close()
            node.stop()
    events = args.events * args.rounds
    rate = {name: events / seconds for name, seconds in totals.items()}
    load_after = os.getloadavg()
    print(f"\n{events:,} events per backend, batches of {args.batch}, {os.cpu_count()} CPUs")
    print(f"local embedded backend (baseline)   {rate['local']:>8,.0f} events/s")
    print(f"remote backend, node on loopback    {rate['remote']:>8,.0f} events/s")
    print(f"ratio remote / local                {rate['remote'] / rate['local']:>8.2f}x")
    print(f"minimum honest ledger, same batches {rate['honest']:>8,.0f} events/s")
    print(f"ratio local / honest                {rate['local'] / rate['honest']:>8.2f}x")
    print(f"ratio remote / honest               {rate['remote'] / rate['honest']:>8.2f}x")
    if checked is not None:
        rate_check = checked["verified"] / t_check
        print(f"receipts checked afterwards         {rate_check:>8,.0f} receipts/s  {checked}")
    print(f"load average before {load_before[0]:.2f}  after {load_after[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
