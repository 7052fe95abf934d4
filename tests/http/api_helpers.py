"""Helpers of the HTTP tests: callers with their tokens, and a referral whose hand-over
awaits. Events: tests/support/events.py."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.support import events as ev

Tokens = dict[tuple[str, str], str]


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


def sealed_referral(api: Api, attributes: dict[str, str] | None = None) -> str:
    """AGENCY-A registers her (Fatima Hassan, unless ``attributes`` say whom), records
    her consent and a referral to AGENCY-B, and seals her hand-over for it: the
    referral's ID."""
    a = api.as_("AGENCY-A")
    attributes = attributes or {"given_name": "Fatima", "family_name": "Hassan"}
    r = a.post("/v1/registrations", json={"attributes": attributes})
    assert r.status_code == 201, r.get_json()
    pid = r.get_json()["pid"]
    consent = ev.consent_granted(
        pid, grantees=["AGENCY-B"], purposes=["referral"], categories=["referrals"]
    )
    referral = ev.referral_created(pid, consent_id=consent["consent_id"])
    for event in (consent, referral):
        assert a.post("/v1/events", json=event).status_code == 201
    rid = str(referral["referral_id"])
    assert a.post("/v1/handovers", json={"referral_id": rid}).status_code == 201
    return rid


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def dashboard_csrf(client: FlaskClient, url: str = "/dashboard/login") -> str:
    """The CSRF token of the form a dashboard page carries."""
    match = CSRF.search(client.get(url).get_data(as_text=True))
    assert match is not None
    return match.group(1)


def dashboard_login(client: FlaskClient, token: str) -> Any:
    return client.post("/dashboard/login", data={"csrf": dashboard_csrf(client), "token": token})
