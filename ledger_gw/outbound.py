"""Requests this library makes to other parties' servers: no redirect is followed, and
the whole exchange is bounded in time.

A request carries what only the server it names may see: a bearer token, a signed
hand-over fetch, a checkpoint for a witness. urllib repeats a request's headers to
wherever a 3xx answer points, another host or plain HTTP included; here a redirect is
an ``HTTPError`` like any other refusal, and the caller reports it as one. Only http and
https are opened: a URL from a configuration file never reads a local file.

A socket's timeout bounds each read and write, so a server sending a byte as each one
ends would hold the caller for good. Here the timeout is the budget of the whole
exchange instead: connecting, the TLS handshake, sending, and reading the answer's
status, headers and body (within the ``with`` block); past it a read or write raises
``TimeoutError``, an ``OSError`` like a server out of reach. A refusal's reason
(at most MAX_REFUSAL bytes) is read before the ``HTTPError`` is raised, by the deadline.
"""

from __future__ import annotations

import functools
import http.client
import io
import socket
import time
import urllib.error
import urllib.request
from email.message import Message
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

#: The most of a refusal's body kept for the caller: what its reason takes.
MAX_REFUSAL = 64 * 1024


class _Deadline:
    """When an exchange's budget runs out."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.at = time.monotonic() + budget

    def left(self) -> float:
        """The seconds left; TimeoutError once there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            self.passed()
        return left

    def passed(self) -> NoReturn:
        raise TimeoutError(f"the answer was not whole in time ({self.budget:g} s)")


class _PacedReads(io.RawIOBase):
    """A socket's reads, each waiting no longer than the deadline leaves."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock, self._deadline = sock, deadline
        self._raw = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        self._sock.settimeout(self._deadline.left())
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            self._deadline.passed()

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        self._raw.close()
        super().close()


class _PacedSocket:
    """A connected (TLS) socket whose sends, and the reads of the answer made from it,
    each wait no longer than the deadline leaves; all else is the socket's own."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock, self._deadline = sock, deadline

    def sendall(self, data: ReadableBuffer) -> None:
        # the timeout bounds a whole sendall, a TLS socket's too (Python >= 3.5)
        self._sock.settimeout(self._deadline.left())
        try:
            self._sock.sendall(data)
        except TimeoutError:
            self._deadline.passed()

    def makefile(self, mode: str) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError(f"an answer is read in binary only, not {mode!r}")
        return io.BufferedReader(_PacedReads(self._sock, self._deadline))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _PacedHTTPConnection(http.client.HTTPConnection):
    """A connection whose exchange, the TLS handshake included, ends by the deadline."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        self._create_connection = self._connected

    def _connected(
        self, address: tuple[str, int], _timeout: float, source: tuple[str, int] | None = None
    ) -> socket.socket:
        sock = socket.create_connection(address, self._deadline.left(), source)
        try:
            # what is left bounds an HTTPS connection's handshake, all of it (Python >= 3.5)
            sock.settimeout(self._deadline.left())
        except TimeoutError:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        super().connect()
        self.sock = cast(socket.socket, _PacedSocket(self.sock, self._deadline))


class _PacedHTTPSConnection(_PacedHTTPConnection, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        deadline = _Deadline(cast(float, req.timeout))
        return self.do_open(functools.partial(_PacedHTTPConnection, deadline=deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        deadline = _Deadline(cast(float, req.timeout))
        return self.do_open(functools.partial(_PacedHTTPSConnection, deadline=deadline), req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


class _Refusal(urllib.request.HTTPDefaultErrorHandler):
    """A refusal's reason is read here, within the deadline: one that does not come in
    time leaves the refusal a refusal, with what of its reason came, rather than failing
    the caller's reading of it."""

    def http_error_default(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, hdrs: Message
    ) -> NoReturn:
        answer, reason = cast(http.client.HTTPResponse, fp), bytearray()
        with answer:
            try:
                while len(reason) < MAX_REFUSAL:
                    chunk = answer.read1(MAX_REFUSAL - len(reason))
                    if not chunk:
                        break
                    reason += chunk
            except (OSError, http.client.HTTPException):
                pass
        raise urllib.error.HTTPError(req.full_url, code, msg, hdrs, io.BytesIO(reason))


_OPENER = urllib.request.OpenerDirector()
for _handler in (
    urllib.request.ProxyHandler(),
    _HTTPHandler(),
    _HTTPSHandler(),
    _Refusal(),
    urllib.request.HTTPErrorProcessor(),
    _NoRedirect(),
    urllib.request.UnknownHandler(),  # any other scheme: URLError
):
    _OPENER.add_handler(_handler)


def urlopen(request: urllib.request.Request | str, timeout: float) -> http.client.HTTPResponse:
    """``urllib.request.urlopen``, but a 3xx answer is raised, not followed, and the
    exchange, up to the last byte of the body read, takes ``timeout`` seconds at most."""
    return cast(http.client.HTTPResponse, _OPENER.open(request, timeout=timeout))
