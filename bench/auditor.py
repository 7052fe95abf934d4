"""Full verification as `ledger-gw verify` runs it: in a process of its own.

The pool's workers import the main module of the process that verifies, as
multiprocessing's workers do for every start method but fork. A benchmark script's
imports would cost each of them a third of a second before its first check; the
command's do not (`ledger-gw` imports a command's module only when it runs).
"""

from __future__ import annotations

import json
import subprocess
import sys

from ledger_gw.workspace import Workspace

_VERIFY = """
import json, sys, time
from pathlib import Path
from ledger_gw.embedded.verify import verify_ledger
from ledger_gw.workspace import Workspace
ws = Workspace.load(Path(sys.argv[1]))
start = time.perf_counter()
report = verify_ledger(ws.ledger_url, ws.consortium)
print(json.dumps([report.size, time.perf_counter() - start]))
"""


def verify_apart(ws: Workspace) -> tuple[int, float]:
    """(entries, seconds) of a full verify of the workspace's ledger, on every core."""
    command = [sys.executable, "-c", _VERIFY, str(ws.root)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    size, seconds = json.loads(done.stdout)
    return int(size), float(seconds)
