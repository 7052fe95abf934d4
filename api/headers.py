"""Security headers on every answer; `/v1/` answers are never stored by a cache.

The API's JSON is person-level data (pseudonymous IDs, histories), so no browser or proxy
keeps a copy. The log's tiles set their own caching and keep it; the dashboard sets its
own headers, which these defaults never replace.
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
    if request.path.startswith("/v1/") and (
        response.is_json or "Cache-Control" not in response.headers
    ):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure)
