"""Security headers on every answer; no answer is stored by a cache unless it says so.

The API's JSON is person-level data (pseudonymous IDs, histories), so no browser or proxy
keeps a copy, and neither of any other answer (an error, a page) that sets no caching of
its own. The log's tiles and the documentation's static files set their own caching and
keep it; the dashboard sets its own headers, which these defaults never replace.
"""

from __future__ import annotations

from flask import Flask, Response, request

DEFAULTS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _secure(response: Response) -> Response:
    for name, value in DEFAULTS.items():
        response.headers.setdefault(name, value)
    if "Cache-Control" not in response.headers or (
        request.path.startswith("/v1/") and response.is_json
    ):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure)
