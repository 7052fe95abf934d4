"""Every peer must write the same bytes for the same transactions, whatever its process:
time zone, locale, hash seed, and however the submitter spelled the same JSON (key
order, whitespace, escaped characters). Each run here is its own interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cc_support import ORG_A, ORG_B, ORG_C
from test_cc_idempotency import scenario

_HERE = Path(__file__).parent
_ROOT = _HERE.parents[2]

# Reads (org, raw event) pairs on stdin, submits them in order at fixed times, prints
# every put, event and answer.
_RUN = """
import json, sys
from datetime import UTC, datetime, timedelta
from cc_support import FakeStub
from chaincode.contract import invoke
from chaincode.stub import Identity
stub, out = FakeStub(), []
for n, (org, raw) in enumerate(json.load(sys.stdin)):
    stub.tx_id, stub.creator = f"t{n}", Identity(org, "agency")
    stub.tx_timestamp = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(minutes=n)
    out.append(invoke(stub, "submit", [raw.encode()]).decode())
out += [k + " " + v.decode() for k, v in stub.puts] + [n + " " + p.decode() for n, p in stub.events]
print(json.dumps(out))
"""


def _respelled(event: dict[str, Any]) -> str:
    """The same event, keys reversed, spaced out, and every letter escaped."""
    text = json.dumps(dict(reversed(event.items())), indent=3)
    return "".join(f"\\u{ord(c):04x}" if c.isalpha() else c for c in text)


def _run(txs: list[tuple[str, str]], env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN],
        input=json.dumps(txs),
        capture_output=True,
        text=True,
        check=True,
        cwd=_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join((str(_ROOT), str(_HERE))),
            **env,
        },
    )
    out: list[str] = json.loads(done.stdout)
    return out


def test_same_transactions_same_bytes_in_any_process() -> None:
    txs = scenario()
    assert {org for org, _ in txs} == {ORG_A, ORG_B, ORG_C}
    plain = [(org, json.dumps(event)) for org, event in txs]
    respelled = [(org, _respelled(event)) for org, event in txs]
    first = _run(plain, {"TZ": "UTC", "LC_ALL": "C", "PYTHONHASHSEED": "0"})
    for spelled, env in (
        (plain, {"TZ": "Pacific/Chatham", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "1"}),
        (respelled, {"TZ": "America/St_Johns", "LC_ALL": "C", "PYTHONHASHSEED": "4242"}),
    ):
        assert _run(spelled, env) == first
    assert any("33.3" in line for line in first)  # a delivered amount, as written
