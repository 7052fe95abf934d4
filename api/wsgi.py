"""WSGI entry point (`api.wsgi:app`) for any WSGI server: configuration from the environment.

One process, or processes that each append in turn; `ledger-gw serve` runs gunicorn with
one appending process for its workers (api.server).
"""

from __future__ import annotations

from api import create_app

app = create_app()
