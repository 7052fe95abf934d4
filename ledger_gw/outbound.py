"""Requests this library makes to other parties' servers: no redirect is followed.

A request carries what only the server it names may see: a bearer token, a signed
hand-over fetch, a checkpoint for a witness. urllib repeats a request's headers to
wherever a 3xx answer points, another host or plain HTTP included; here a redirect is
an ``HTTPError`` like any other refusal, and the caller reports it as one. Only http and
https are opened: a URL from a configuration file never reads a local file.
"""

from __future__ import annotations

import http.client
import urllib.request
from typing import Any, cast


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


_OPENER = urllib.request.OpenerDirector()
for _handler in (
    urllib.request.ProxyHandler(),
    urllib.request.HTTPHandler(),
    urllib.request.HTTPSHandler(),
    urllib.request.HTTPDefaultErrorHandler(),
    urllib.request.HTTPErrorProcessor(),
    _NoRedirect(),
    urllib.request.UnknownHandler(),  # any other scheme: URLError
):
    _OPENER.add_handler(_handler)


def urlopen(request: urllib.request.Request | str, timeout: float) -> http.client.HTTPResponse:
    """``urllib.request.urlopen``, but a 3xx answer is raised, not followed."""
    return cast(http.client.HTTPResponse, _OPENER.open(request, timeout=timeout))
