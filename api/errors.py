"""RFC 9457 problem details: one handler for the library's error tree, one for HTTP errors,
and a last one that logs the traceback server-side and tells the client nothing of it."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, json, request
from werkzeug.exceptions import HTTPException

from ledger_gw.errors import (
    AuthenticationError,
    ConfigError,
    IntegrityError,
    LedgerError,
    NotFoundError,
    RejectedError,
    UnavailableError,
)

log = logging.getLogger("api")
PROBLEM = "application/problem+json"

STATUS_BY_KIND = {
    "validation": 422,
    "forbidden": 403,
    "not_found": 404,
    "transition": 409,
    "conflict": 409,
    "unauthenticated": 401,
    "unavailable": 503,
    "internal": 500,
    "unsupported": 501,
}
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    501: "Not implemented",
    503: "Service unavailable",
}


def problem(status: int, code: str, detail: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:referral-ledger:problem:{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.path,
    }
    if field is not None:
        body["field"] = field
    g.problem_code = code
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ledger-gw"'
    return response


def _ledger_error(error: LedgerError) -> Response:
    if isinstance(error, RejectedError):
        status = STATUS_BY_KIND.get(error.kind, 422)
        if status == 503:
            log.warning("ledger unavailable: %s", error)
            return problem(503, error.code, "the ledger cannot take this now; retry later")
        if status == 500:
            log.error("%s: %s", error.code, error)
            return problem(
                500, error.code, "the ledger failed on this request; its operator is told"
            )
        return problem(status, error.code, str(error), error.field)
    if isinstance(error, AuthenticationError):
        return problem(401, error.code, str(error))
    if isinstance(error, NotFoundError):
        return problem(404, error.code, str(error))
    if isinstance(error, UnavailableError):
        log.warning("unavailable: %s", error)
        return problem(503, error.code, "a database cannot be reached now; retry later")
    if isinstance(error, ConfigError | IntegrityError):
        log.error("%s: %s", error.code, error)
        return problem(500, error.code, "the gateway cannot answer this; its operator is told")
    return problem(422, error.code, str(error))


def _first_field(messages: Any, prefix: str = "") -> str | None:
    """The first offending field in webargs' {location: {field: [...]}} error messages."""
    if not isinstance(messages, dict) or not messages:
        return None
    key = sorted(messages, key=str)[0]
    value = messages[key]
    if prefix == "" and key in ("json", "query", "path", "headers", "form", "files"):
        return _first_field(value, "-")
    name = str(key) if prefix in ("", "-") else f"{prefix}.{key}"
    nested = _first_field(value, name) if isinstance(value, dict) else None
    return nested or name


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 422:
        field = _first_field(data.get("messages"))
        return problem(422, "invalid_request", "the request does not match its schema", field)
    if status == 400:
        return problem(400, "malformed_request", "the request body is not valid JSON")
    if status >= 500:
        return problem(status, "internal_error", "the gateway failed; its operator is told")
    code = (error.name or "error").lower().replace(" ", "_")
    return problem(status, code, error.description or error.name)


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "internal_error", "the gateway failed; its operator is told")


def register(app: Flask) -> None:
    app.register_error_handler(LedgerError, _ledger_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
