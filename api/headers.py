"""Security headers on every answer; no answer is stored by a cache unless it says so.

The API's JSON is person-level data (pseudonymous IDs, histories), so no browser or proxy
keeps a copy, and neither of any other answer (an error, a page) that sets no caching of
its own. The log's tiles and the documentation's static files set their own caching and
keep it; the dashboard sets its own headers, which these defaults never replace.

No answer but a page runs anything in a browser: the API's JSON and problems get a
policy that loads nothing. The documentation page runs only the scripts this gateway
serves for it, and reaches only this origin, for the API's description.
"""

from __future__ import annotations

from flask import Flask, Response, request

DEFAULTS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_PATH = "/docs"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _secure(response: Response) -> Response:
    for name, value in DEFAULTS.items():
        response.headers.setdefault(name, value)
    policy = DOCS_CSP if request.path == DOCS_PATH else CSP
    response.headers.setdefault("Content-Security-Policy", policy)
    if "Cache-Control" not in response.headers or (
        request.path.startswith("/v1/") and response.is_json
    ):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure)
