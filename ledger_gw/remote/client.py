"""HTTPS to the log node, with this organisation's client certificate.

The node's answers are read as sent (no Content-Encoding: a few hundred KiB of gzip
would inflate to gigabytes in the gateway), at most MAX_ANSWER bytes and within
ANSWER_S seconds of the request, status line and headers included: the node is checked,
not trusted, and must not be able to exhaust the gateway that checks it.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import orjson
import urllib3

from ledger_gw.errors import UnavailableError
from ledger_gw.remote.wire import error_from_dict

TIMEOUT = urllib3.Timeout(connect=5.0, read=60.0)
#: The largest answer read: the largest a node gives (256 entries, or 1,000 outcomes) is
#: a few MiB.
MAX_ANSWER = 16 << 20
#: Seconds for a whole answer, however slowly its bytes come.
ANSWER_S = 120.0
_CHUNK = 1 << 16


class _Answer:
    """An answer's status and body, read whole."""

    def __init__(self, status: int, data: bytes) -> None:
        self.status = status
        self.data = data


class _AnswerSocket(ssl.SSLSocket):
    """A TLS socket that reads each answer within ANSWER_S of sending its request.

    urllib3's read timeout is each read's: a node dripping its status line and headers a
    byte at a time, or sending interim answers (100 Continue) without end, would hold the
    gateway's thread for as long as it liked, before any of the body is read."""

    _asked: float | None = None  # when the last request was sent

    def sendall(self, data: Any, flags: int = 0) -> None:
        super().sendall(data, flags)
        self._asked = time.monotonic()

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        if self._asked is None:
            return super().recv_into(buffer, nbytes, flags)
        left = self._asked + ANSWER_S - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer whole within {ANSWER_S:.0f} s")
        timeout = self.gettimeout()
        self.settimeout(left if timeout is None else min(timeout, left))
        try:
            return super().recv_into(buffer, nbytes, flags)
        finally:
            self.settimeout(timeout)


class NodeClient:
    """One pool of TLS connections to the node, shared by the gateway's threads."""

    def __init__(self, base_url: str, context: ssl.SSLContext) -> None:
        self.base_url = base_url.rstrip("/")
        context.sslsocket_class = _AnswerSocket  # each answer within ANSWER_S
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
            self._request("POST", path, body=orjson.dumps(body), content_type="application/json")
        )

    def _request(
        self, method: str, path: str, content_type: str | None = None, **kwargs: Any
    ) -> _Answer:
        headers = {"Accept-Encoding": "identity"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            response = self._http.request(
                method,
                self.base_url + path,
                headers=headers,
                preload_content=False,
                decode_content=False,
                **kwargs,
            )
            try:
                answer = _Answer(response.status, self._read(response))
            except BaseException:
                response.close()  # part of an answer left unread: the connection goes
                raise
            response.release_conn()
            return answer
        except urllib3.exceptions.HTTPError as exc:
            raise UnavailableError(
                f"the log node at {self.base_url} cannot be reached: {exc.__class__.__name__}",
                code="log_node_unreachable",
            ) from None

    def _read(self, response: urllib3.BaseHTTPResponse) -> bytes:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise UnavailableError(
                f"the log node answered in {encoding[:20]!r}, not as it was asked",
                code="bad_answer",
            )
        deadline = time.monotonic() + ANSWER_S
        data = bytearray()
        while chunk := response.read1(_CHUNK):
            data += chunk
            if len(data) > MAX_ANSWER:
                raise UnavailableError(
                    f"the log node's answer is larger than {MAX_ANSWER} bytes", code="bad_answer"
                )
            if time.monotonic() > deadline:
                raise UnavailableError(
                    f"the log node's answer took more than {ANSWER_S:.0f} s",
                    code="log_node_unreachable",
                )
        return bytes(data)

    def _json(self, response: _Answer) -> Any:
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
