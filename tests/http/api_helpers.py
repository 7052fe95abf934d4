"""Helpers of the HTTP tests: callers with their tokens. Events: tests/support/events.py."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

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
