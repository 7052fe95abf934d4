"""The dashboard: server-rendered pages for auditors, donors and agencies, in the gateway.

Templates and styles ship with the package; nothing is loaded from the internet.
"""

from __future__ import annotations

from flask import Flask

from api.dashboard import casework, credential_views, landing, session
from api.dashboard.views import bp
from ledger_gw.services.config import GatewayConfig

PAGES = (casework, credential_views, landing)  # each adds its pages to the dashboard's blueprint


def init_app(app: Flask, config: GatewayConfig) -> None:
    session.configure(app, config)
    app.register_blueprint(bp)
    app.register_blueprint(landing.bp)
