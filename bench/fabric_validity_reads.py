"""Blocks read from the peers per Fabric audit bundle: with the validity trees cached per
process (each block's leaves read once per peer) against a fresh tree per bundle, as
every bundle read the channel from block 0 once per member before.

    FABRIC_HOME=... LEDGER_GW_FABRIC_PROFILE=network/.state/profile.json \\
        python -m bench.fabric_validity_reads [--bundles 3]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ledger_gw.audit.bundle import build_bundle
from ledger_gw.bootstrap import fabric_ledger
from ledger_gw.consortium import Consortium
from ledger_gw.fabric import validity
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.verifiable import FabricLog


def _reads(
    ledger: FabricLedger, consortium: Consortium, tx: str, bundles: int, cached: bool
) -> list[int]:
    counted = [0]
    real = ledger.block

    def block(number: int, org_id: str | None = None) -> bytes:
        counted[0] += 1
        return real(number, org_id)

    ledger.block = block  # type: ignore[method-assign]
    out = []
    for _ in range(bundles):
        if not cached:
            validity._trees.clear()
        counted[0] = 0
        build_bundle(FabricLog(ledger, "AUDITOR-X"), consortium, kind="events", tx_ids=[tx])
        out.append(counted[0])
    ledger.block = real  # type: ignore[method-assign]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=int, default=3)
    args = parser.parse_args()
    ledger, fabric_ws = fabric_ledger(Path(os.environ["LEDGER_GW_FABRIC_PROFILE"]))
    assert isinstance(ledger, FabricLedger)
    log = FabricLog(ledger, "AUDITOR-X")
    tx = next(iter(log.records(log.anchor()))).tx_id
    print(f"load average {os.getloadavg()[0]:.2f}, height {ledger.height('AUDITOR-X')} blocks")
    t0 = time.perf_counter()
    before = _reads(ledger, fabric_ws.consortium, tx, args.bundles, cached=False)
    t1 = time.perf_counter()
    validity._trees.clear()
    after = _reads(ledger, fabric_ws.consortium, tx, args.bundles, cached=True)
    t2 = time.perf_counter()
    print(f"fresh trees per bundle (baseline): blocks read per bundle {before}, {t1 - t0:.2f} s")
    print(f"trees cached per process:          blocks read per bundle {after}, {t2 - t1:.2f} s")
    print(f"ratio of reads, later bundles: {before[-1] / after[-1]:.2f}x fewer")
    ledger.close()
