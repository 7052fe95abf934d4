"""Is the network answering? One signed query through the first peer's gateway.

python -m ledger_gw.fabric.ping network/.state/profile.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from ledger_gw.backends import fabric_ledger
from ledger_gw.client import OrgClient
from ledger_gw.fabric.gateway import FabricProfile


def main() -> int:
    profile_path = Path(sys.argv[1])
    profile = FabricProfile.load(profile_path)
    ledger, ws = fabric_ledger(profile_path)
    try:
        client = OrgClient(ledger, ws.signer(profile.default_peer))
        print(client.query("consents", "h." + "a" * 26))
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
