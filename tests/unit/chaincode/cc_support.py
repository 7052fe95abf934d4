"""The contract tests' in-memory Stub and a driver that submits as a given org and role.

Kept out of conftest.py under a distinctive name so test modules can import it
without colliding with other directories' conftest modules.

The embedded ledger runs the same contract in the integration tier; this fake only
has to honour the Stub protocol: sorted range scans and one event. Events come from
tests/support/events.py, as in every tier.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chaincode.contract import invoke
from chaincode.stub import Identity, Role, composite_key

ORG_A, ORG_B, ORG_C, ORG_D = "AGENCY-A", "AGENCY-B", "AGENCY-C", "AGENCY-D"
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class FakeStub:
    def __init__(self) -> None:
        self.state: dict[str, bytes] = {}
        self.puts: list[tuple[str, bytes]] = []
        self.events: list[tuple[str, bytes]] = []
        self.tx_id = "tx0"
        self.tx_timestamp = START
        self.creator = Identity(ORG_A, "agency")

    def get_state(self, key: str) -> bytes | None:
        return self.state.get(key)

    def get_states(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.get_state(key) for key in keys]

    def put_state(self, key: str, value: bytes) -> None:
        assert isinstance(value, bytes)
        self.puts.append((key, value))
        self.state[key] = value

    def get_state_by_partial_composite_key(
        self, object_type: str, attributes: Sequence[str]
    ) -> Iterator[tuple[str, bytes]]:
        prefix = composite_key(object_type, attributes)
        for key in sorted(k for k in self.state if k.startswith(prefix)):
            yield key, self.state[key]

    def get_state_page(self, start: str, end: str, limit: int) -> list[tuple[str, bytes]]:
        keys = sorted(k for k in self.state if start <= k < end)[:limit]
        return [(k, self.state[k]) for k in keys]

    def set_event(self, name: str, payload: bytes) -> None:
        self.events.append((name, payload))


class Ledger:
    """Submits and queries as a given org/role at a steadily advancing (or given) time."""

    def __init__(self, start: datetime = START) -> None:
        self.stub = FakeStub()
        self.start = start
        self.n = 0

    def _tx(self, org: str, role: Role, at: datetime | None) -> None:
        self.n += 1
        self.stub.tx_id = f"tx{self.n:06d}"
        self.stub.tx_timestamp = at or self.start + timedelta(seconds=self.n)
        self.stub.creator = Identity(org, role)

    def submit_raw(
        self, org: str, raw: bytes, role: Role = "agency", at: datetime | None = None
    ) -> bytes:
        self._tx(org, role, at)
        return invoke(self.stub, "submit", [raw])

    def submit(
        self, org: str, event: dict[str, Any], role: Role = "agency", at: datetime | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.submit_raw(org, dump(event), role, at))
        return out

    def query(
        self, org: str, function: str, *args: str, role: Role = "agency", at: datetime | None = None
    ) -> dict[str, Any]:
        self._tx(org, role, at)
        out: dict[str, Any] = json.loads(invoke(self.stub, function, [a.encode() for a in args]))
        return out


def dump(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()
