"""HTTPS to the log node, with this organisation's client certificate."""

from __future__ import annotations

import json
import ssl
from typing import Any

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
        fields = {k: str(v) for k, v in params.items() if v is not None}
        return self._request("GET", path, fields=fields)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request(
            "POST",
            path,
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )

    def get_bytes(self, path: str) -> bytes:
        """A binary answer (a tile); errors are problem+json as everywhere else."""
        response = self._send("GET", path)
        if response.status >= 400:
            self._json(response)
        return bytes(response.data)

    def _send(self, method: str, path: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        try:
            return self._http.request(method, self.base_url + path, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise UnavailableError(
                f"the log node at {self.base_url} cannot be reached: {exc.__class__.__name__}",
                code="log_node_unreachable",
            ) from None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._json(self._send(method, path, **kwargs))

    def _json(self, response: urllib3.BaseHTTPResponse) -> Any:
        try:
            data = json.loads(response.data)
        except ValueError:
            raise UnavailableError(
                f"the log node answered {response.status} without JSON", code="bad_answer"
            ) from None
        if response.status >= 400:
            raise error_from_dict(data.get("error") if isinstance(data, dict) else None)
        return data

    def close(self) -> None:
        self._http.clear()
