"""Helpers of the API tests: callers with tokens and valid sample events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask.testing import FlaskClient

TODAY = dt.datetime.now(dt.UTC).date()
Tokens = dict[tuple[str, str], str]


def new_id() -> str:
    return str(uuid.uuid4())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """The test client with a caller's token: `api.as_("AGENCY-A").post(...)`."""

    def __init__(self, client: FlaskClient, tokens: Tokens) -> None:
        self.client = client
        self.tokens = tokens

    def as_(self, org: str, role: str = "agency-writer") -> _Caller:
        return _Caller(self.client, bearer(self.tokens[org, role]))


class _Caller:
    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self.headers, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.client.patch(url, headers=self.headers, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self.headers, **kw)


def consent(pid: str, grantees: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "type": "consent.granted",
        "consent_id": new_id(),
        "pid": pid,
        "grantees": grantees or ["*"],
        "purposes": ["deduplication", "referral", "service_continuity"],
        "data_categories": ["assistance", "consent", "entitlements", "referrals"],
        "lawful_basis": "consent",
        "expires": (TODAY + dt.timedelta(days=365)).isoformat(),
        "form_hash": "cd" * 32,
        **extra,
    }


def grant(pid: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "type": "entitlement.granted",
        "entitlement_id": new_id(),
        "pid": pid,
        "programme": "MPCA-2026",
        "assistance_type": "cash",
        "modality": "cash",
        "amount": "450.00",
        "currency": "USD",
        "start": TODAY.isoformat(),
        "end": (TODAY + dt.timedelta(days=90)).isoformat(),
        "location": "LB11",
        **extra,
    }


def referral(pid: str, to_org: str = "AGENCY-B", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "type": "referral.created",
        "referral_id": new_id(),
        "pid": pid,
        "to_org": to_org,
        "sector": "health",
        "urgency": "urgent",
        "document_hash": "ef" * 32,
        **extra,
    }


PID = "k1.abcdefghijklmnopqrstuvwxyz"
PID2 = "h.abcdefghijklmnopqrstuvwxy2"
