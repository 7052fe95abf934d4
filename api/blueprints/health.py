"""/healthz, /readyz and /metrics: for the operator's probes, no token needed."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from api.auth import gateway
from api.blueprints.common import errors
from api.metrics import exposition
from api.schemas import HealthOut
from ledger_gw.errors import LedgerError, UnavailableError

blp = Blueprint("health", __name__, description="Liveness, readiness, metrics")


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthOut)
def healthz() -> Any:
    """The process answers."""
    return {"status": "ok", "checks": {}}


@blp.route("/readyz", methods=["GET"])
@blp.response(200, HealthOut)
@errors(blp, 503)
def readyz() -> Any:
    """The consortium directory is still there, and the ledger and every off-chain
    database answer from the files this process opened."""
    gw = gateway()
    if not gw.config.directory.is_dir():
        raise UnavailableError(f"{gw.config.directory} is gone", code="not_ready")
    try:
        checks = gw.ledger.ready()
        for org, store in gw.stores.items():
            store.ping()
            checks[f"offchain:{org}"] = "ok"
    except LedgerError as exc:
        raise UnavailableError(str(exc), code="not_ready") from exc
    except Exception as exc:  # a database driver's own error: not ready, not a crash
        raise UnavailableError(exc.__class__.__name__, code="not_ready") from exc
    return {"status": "ready", "checks": checks}


@blp.route("/metrics", methods=["GET"])
@blp.response(200, description="Prometheus text exposition", content_type="text/plain")
def metrics() -> Response:
    """Prometheus metrics (all workers when PROMETHEUS_MULTIPROC_DIR is set)."""
    return exposition()
