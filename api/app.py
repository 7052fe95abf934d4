"""Application factory: nothing is built at import time; each process builds its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask.typing import ResponseReturnValue
from flask_smorest import Api
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from api import (
    auth,
    bodies,
    dashboard,
    errors,
    event_docs,
    headers,
    json_provider,
    logs,
    metrics,
    ratelimit,
)
from api.blueprints import (
    audit,
    credentials,
    events,
    handovers,
    health,
    log,
    outbox,
    persons,
    proofs,
    pseudonyms,
    referrals,
    registrations,
    reports,
    validity,
)
from api.http_framing import MAX_BODY
from api.schemas import ProblemSchema
from ledger_gw.bootstrap import config_from_env, open_gateway
from ledger_gw.services.config import GatewayConfig
from ledger_gw.services.gateway import Gateway

SWAGGER_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)


class GatewayApi(Api):  # type: ignore[misc]
    """flask-smorest's Api documenting our problem+json errors instead of its own."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None


def _settings() -> dict[str, Any]:
    return {
        "API_TITLE": "Referral ledger agency gateway",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": headers.DOCS_PATH,
        "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": (
                    "An agency's gateway to the referral and entitlement ledger. Personal "
                    "data stays in the agency's own database; the ledger holds pseudonymous "
                    "IDs, codes and keyed hashes. Errors are RFC 9457 problem+json."
                )
            },
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
        "MAX_CONTENT_LENGTH": MAX_BODY,
    }


#: What the /docs page loads, and from where: Swagger UI's files, and the script that
#: starts it (api/templates/swagger_ui.html). The package also holds Swagger UI's own demo
#: page, which fetches a third party's API description and validator into this origin.
_DOCS_PAGE_ASSETS = {
    "swagger-ui.css": SWAGGER_ASSETS,
    "swagger-ui-bundle.js": SWAGGER_ASSETS,
    "swagger-ui-standalone-preset.js": SWAGGER_ASSETS,
    "start.js": Path(__file__).parent / "docs_page",
}


def _swagger_asset(filename: str) -> ResponseReturnValue:
    if filename not in _DOCS_PAGE_ASSETS:
        raise NotFound()
    return send_from_directory(_DOCS_PAGE_ASSETS[filename], filename)


def create_app(config: GatewayConfig | None = None, gateway: Gateway | None = None) -> Flask:
    """Build the app for one process; `gateway` lets tests share one already opened."""
    config = config or config_from_env()
    app = Flask("api")
    if config.proxies:  # the client's address as the nearest proxies saw it
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxies)  # type: ignore[method-assign]
    app.config.update(_settings())
    app.config.update(config.extra)
    gw = app.extensions["ledger_gw"] = gateway or open_gateway(config)
    api = GatewayApi(app)
    event_docs.register(api.spec, gw.workspace.consortium)
    for module in (
        health,
        registrations,
        pseudonyms,
        events,
        outbox,
        persons,
        referrals,
        proofs,
        log,
        audit,
        reports,
        credentials,
        validity,
        handovers,
    ):
        api.register_blueprint(module.blp)
    app.add_url_rule("/docs/assets/<path:filename>", "swagger_assets", _swagger_asset)
    errors.register(app)  # after Api(), which registers its own HTTPException handler
    metrics.init_app(app)
    auth.init_app(app)
    bodies.init_app(app)  # before the JSON body is read
    json_provider.init_app(app)
    dashboard.init_app(app, config)
    headers.init_app(app)
    logs.init_app(app)
    ratelimit.init_app(app, config)
    return app
