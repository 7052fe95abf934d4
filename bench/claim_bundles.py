"""Audit bundles and chain verdicts: a claim's records through the index vs a scan.

Builds an embedded ledger of ``--events`` events (people with a grant, deliveries and
a referral, as in ledger_append.py), then times, in the same run and on the same log,
building the bundles of ``--claims`` referral chains and entitlements and judging the
chains, with the records read through the world state (``EmbeddedLog.claim_records``)
and with every entry scanned (the baseline). Prints figures; asserts nothing.

    python bench/claim_bundles.py --events 20000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from ledger_append import signed_events  # type: ignore[import-not-found]

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.ledger import EmbeddedLedger
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.interfaces import Anchor, Record
from ledger_gw.services.bundles import judge_chain
from ledger_gw.workspace import Workspace


class ScanLog(EmbeddedLog):
    def claim_records(self, anchor: Anchor, kind: str, subject: str) -> list[Record]:
        return list(self.records(anchor))


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--claims", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create(Path(tmp) / "ws", replace(DEMO, name="bench"))
        ledger = EmbeddedLedger(ws.ledger_url, ws.consortium, ws.log_signer())
        txs = signed_events(ws, args.events, 1)
        for i in range(0, len(txs), 1000):
            for outcome in ledger.submit_many(txs[i : i + 1000]):
                outcome.unwrap()
        events = [tx.proposal.args[0] for tx in txs]
        referrals = [e["referral_id"] for e in events if e["type"] == "referral.created"]
        grants = [e["entitlement_id"] for e in events if e["type"] == "entitlement.granted"]
        picked = {
            "referral_chain": referrals[:: max(1, len(referrals) // args.claims)][: args.claims],
            "entitlement": grants[:: max(1, len(grants) // args.claims)][: args.claims],
        }
        consortium = ws.consortium
        print(f"log: {ledger.size():,} entries; load average {os.getloadavg()[0]:.2f}")
        print(f"{'operation':<34}{'scan (ms)':>12}{'index (ms)':>12}{'ratio':>9}")
        for label, run in (
            (
                "bundle, referral chain",
                lambda log, s: build_bundle(log, consortium, kind="referral_chain", subject=s),
            ),
            (
                "bundle, entitlement",
                lambda log, s: build_bundle(log, consortium, kind="entitlement", subject=s),
            ),
            ("chain verdict", lambda log, s: judge_chain(log, consortium, s)),
        ):
            kind = "entitlement" if "entitlement" in label else "referral_chain"
            scan, index = (
                statistics.median(
                    median_ms(partial(run, log, s), args.repeat) for s in picked[kind]
                )
                for log in (ScanLog(ledger.log, consortium), EmbeddedLog.of(ledger))
            )
            print(f"{label:<34}{scan:>12.1f}{index:>12.1f}{scan / index:>8.0f}x")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        ledger.close()


if __name__ == "__main__":
    main()
