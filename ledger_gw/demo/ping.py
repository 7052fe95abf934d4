"""Is the network ready for writes through every agency's gateway?

Peers answer queries as soon as the chaincode runs, but a write needs the gateway's
discovery to know enough peers to satisfy the endorsement policy, and each peer's
discovery learns the others through gossip at its own pace. So for every member the
policy names, through that member's own peer: a signed query, the same query endorsed
as the policy requires, then endorsed by a peer of every member the policy names.
Waits up to ``--timeout`` seconds, then says which member is not ready and why.

python -m ledger_gw.demo.ping network/.state/profile.json [--timeout 120]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ledger_gw.bootstrap import fabric_ledger
from ledger_gw.client import OrgClient
from ledger_gw.errors import LedgerError
from ledger_gw.fabric.gateway import FabricLedger, FabricProfile
from ledger_gw.workspace import Workspace


def probe(ledger: FabricLedger, ws: Workspace, org_id: str, among: Sequence[str]) -> None:
    """Raises unless ``org_id``'s peer can have a write endorsed under the policy."""
    client = OrgClient(ledger, ws.signer(org_id))
    query = client.sign("consents", "h." + "a" * 26)
    ledger.evaluate(query)
    ledger.probe_endorsement(query)
    ledger.probe_endorsement(query, among)


def wait_ready(profile_path: Path, timeout: float) -> str | None:
    """None once every endorsing member's peer is ready; else why one is not."""
    profile = FabricProfile.load(profile_path)
    among = sorted(profile.policy.among) if profile.policy else [profile.default_peer]
    ledger, ws = fabric_ledger(profile_path)
    assert isinstance(ledger, FabricLedger)
    pending = {org_id: "not tried" for org_id in among}
    deadline = time.monotonic() + timeout
    try:
        while True:
            for org_id in list(pending):
                try:
                    probe(ledger, ws, org_id, among)
                    del pending[org_id]
                except LedgerError as error:
                    pending[org_id] = str(error)
            if not pending:
                return None
            if time.monotonic() > deadline:
                org_id, why = next(iter(pending.items()))
                return f"{org_id}'s gateway cannot have a write endorsed after {timeout:g} s: {why}"
            time.sleep(1)
    finally:
        ledger.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ping")
    parser.add_argument("profile", type=Path)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    args = parser.parse_args(argv)
    failure = wait_ready(args.profile, args.timeout)
    if failure:
        print(failure, file=sys.stderr)
        return 1
    print("ready: every endorsing member's gateway can have a write endorsed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
