"""The gateway's logs: one JSON object a line, each with its request's ID, and an access log.

A request's ID is the caller's `X-Request-ID` when it is a plain token, else a new one;
it is echoed in the answer, so that a caller and an operator can name the same request.
The access line names the route's template, never its path or query: those carry person
IDs, and a token is never logged at all.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access = logging.getLogger("api.access")

#: What `ledger-gw serve` gives gunicorn's `logconfig_dict`: every logger of the process,
#: gunicorn's own included, writes JSON lines to stderr; gunicorn's access log is left off
#: (the app's names routes, not paths).
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "api.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
    },
}
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, request ID, extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
            "request_id": g.get("request_id") if has_request_context() else None,
        }
        out.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _start() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
    g.access_started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers[HEADER] = g.get("request_id", "")
    started = g.get("access_started", time.perf_counter())
    access.info(
        "%s %s %d",
        request.method,
        request.url_rule.rule if request.url_rule else "-",
        response.status_code,
        extra={
            "method": request.method,
            "route": request.url_rule.rule if request.url_rule else None,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response


def init_app(app: Flask) -> None:
    """First before, so that every later line of the request carries its ID."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
