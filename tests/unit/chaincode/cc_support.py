"""The unit tier's in-memory Stub, a ledger driver and builders of valid events.

Kept out of conftest.py under a distinctive name so test modules can import it
without colliding with other directories' conftest modules.

The embedded ledger runs the same contract in the integration tier; this fake only
has to honour the Stub protocol: sorted range scans and one event.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chaincode.contract import invoke
from chaincode.stub import Identity, Role, composite_key

ORG_A, ORG_B, ORG_C, ORG_D = "SARC", "NRC", "IRC", "DRC"
PID_1 = "k1." + "a" * 26
PID_2 = "h." + "b" * 26
DOC_HASH = "ab" * 32
FORM_HASH = "cd" * 32
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

    def set_event(self, name: str, payload: bytes) -> None:
        self.events.append((name, payload))


_ids = itertools.count(1)


def uid() -> str:
    """A fresh lowercase UUID (version 4 layout, sequential for readable failures)."""
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


class Ledger:
    """Submits and queries as a given org/role at a steadily advancing (or given) time."""

    def __init__(self) -> None:
        self.stub = FakeStub()
        self.n = 0

    def _tx(self, org: str, role: Role, at: datetime | None) -> None:
        self.n += 1
        self.stub.tx_id = f"tx{self.n:06d}"
        self.stub.tx_timestamp = at or START + timedelta(seconds=self.n)
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


def referral_created(pid: str = PID_1, to_org: str = ORG_B, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": uid(),
        "type": "referral.created",
        "referral_id": uid(),
        "pid": pid,
        "to_org": to_org,
        "sector": "health",
        "urgency": "urgent",
        "document_hash": DOC_HASH,
        **kw,
    }


def referral_step(kind: str, referral_id: str, **kw: Any) -> dict[str, Any]:
    detail = {
        "declined": {"reason": "capacity"},
        "completed": {"outcome": "service_provided"},
        "cancelled": {"reason": "person_request"},
    }.get(kind, {})
    return {
        "event_id": uid(),
        "type": f"referral.{kind}",
        "referral_id": referral_id,
        **detail,
        **kw,
    }


def entitlement_granted(pid: str = PID_1, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": uid(),
        "type": "entitlement.granted",
        "entitlement_id": uid(),
        "pid": pid,
        "programme": "MPCA-2025",
        "assistance_type": "cash",
        "modality": "cash",
        "amount": "100",
        "currency": "SYP",
        "start": "2025-03-01",
        "end": "2025-05-31",
        **kw,
    }


def delivered(entitlement_id: str, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": uid(),
        "type": "assistance.delivered",
        "entitlement_id": entitlement_id,
        "amount": "10",
        "currency": "SYP",
        "date": "2025-03-15",
        **kw,
    }


def entitlement_step(kind: str, entitlement_id: str, **kw: Any) -> dict[str, Any]:
    detail = {
        "suspended": {"reason": "fraud_suspected"},
        "revoked": {"reason": "ineligible"},
        "closed": {"reason": "completed"},
    }.get(kind, {})
    return {
        "event_id": uid(),
        "type": f"entitlement.{kind}",
        "entitlement_id": entitlement_id,
        **detail,
        **kw,
    }


def consent_granted(
    pid: str = PID_1,
    grantees: list[str] | None = None,
    purposes: list[str] | None = None,
    categories: list[str] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return {
        "event_id": uid(),
        "type": "consent.granted",
        "consent_id": uid(),
        "pid": pid,
        "grantees": grantees or [ORG_C],
        "purposes": purposes or ["referral", "deduplication", "service_continuity"],
        "data_categories": categories or ["referrals", "entitlements", "assistance", "consent"],
        "lawful_basis": "consent",
        "expires": "2026-03-01",
        "form_hash": FORM_HASH,
        **kw,
    }


def consent_revoked(consent_id: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": uid(), "type": "consent.revoked", "consent_id": consent_id, **kw}
