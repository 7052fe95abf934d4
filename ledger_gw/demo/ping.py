"""Is the network ready for writes? A signed query, then the same query endorsed.

Peers answer queries as soon as the chaincode runs, but a write needs discovery to
know enough peers to satisfy the endorsement policy, which takes a few more seconds.

python -m ledger_gw.demo.ping network/.state/profile.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from ledger_gw.bootstrap import fabric_ledger
from ledger_gw.client import OrgClient
from ledger_gw.fabric.gateway import FabricLedger, FabricProfile


def main() -> int:
    profile_path = Path(sys.argv[1])
    profile = FabricProfile.load(profile_path)
    ledger, ws = fabric_ledger(profile_path)
    assert isinstance(ledger, FabricLedger)
    try:
        client = OrgClient(ledger, ws.signer(profile.default_peer))
        probe = client.sign("consents", "h." + "a" * 26)
        print(ledger.evaluate(probe))
        ledger.probe_endorsement(probe)
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
