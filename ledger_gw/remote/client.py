"""HTTPS to the log node, with this organisation's client certificate."""

from __future__ import annotations

import ssl
from typing import Any

import orjson
import urllib3

from ledger_gw.errors import UnavailableError
from ledger_gw.remote.wire import error_from_dict

TIMEOUT = urllib3.Timeout(connect=5.0, read=60.0)


class NodeClient:
    """One pool of TLS connections to the node, shared by the gateway's threads."""

    def __init__(self, base_url: str, context: ssl.SSLContext) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = urllib3.PoolManager(ssl_context=context, timeout=TIMEOUT, retries=False)

    def get(self, path: str, **params: Any) -> Any:
        return self._json(self._request("GET", path, fields=_fields(params)))

    def get_bytes(self, path: str, **params: Any) -> bytes:
        """An answer that is not JSON (a tile); errors are JSON all the same."""
        response = self._request("GET", path, fields=_fields(params))
        if response.status >= 400:
            self._json(response)
        return bytes(response.data)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._json(
            self._request(
                "POST", path, body=orjson.dumps(body), headers={"Content-Type": "application/json"}
            )
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        try:
            return self._http.request(method, self.base_url + path, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise UnavailableError(
                f"the log node at {self.base_url} cannot be reached: {exc.__class__.__name__}",
                code="log_node_unreachable",
            ) from None

    def _json(self, response: urllib3.BaseHTTPResponse) -> Any:
        try:
            data = orjson.loads(response.data)
        except orjson.JSONDecodeError:
            raise UnavailableError(
                f"the log node answered {response.status} without JSON", code="bad_answer"
            ) from None
        if response.status >= 400:
            raise error_from_dict(data.get("error") if isinstance(data, dict) else None)
        return data

    def close(self) -> None:
        self._http.clear()


def _fields(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in params.items() if v is not None}
