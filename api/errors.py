"""RFC 9457 problem details for any exception, for the API and the dashboard alike.

The library's error tree maps to a status by class, walking the class's MRO, so a new
subclass answers as its family does. A refusal's message is for the caller; a fault's is
for the operator only, and is logged here, never sent. Anything else is a bug: 500, with
nothing of it in the body.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, has_request_context, json, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ledger_gw.errors import (
    InternalError,
    LedgerError,
    RejectedError,
    UnavailableError,
)
from ledger_gw.services.request_log import STATUS

log = logging.getLogger("api")
PROBLEM = "application/problem+json"

#: What a client is told of a fault, instead of its message.
FAULT_DETAIL: dict[type[LedgerError], str] = {
    LedgerError: "the gateway cannot answer this; its operator is told",
    UnavailableError: "the ledger or a database cannot be reached now; retry later",
    InternalError: "the ledger failed on this request; its operator is told",
}
UNEXPECTED_DETAIL = "the gateway failed; its operator is told"
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    414: "URI too long",
    415: "Unsupported media type",
    417: "Expectation failed",
    422: "Unprocessable content",
    431: "Request header fields too large",
    500: "Internal server error",
    501: "Not implemented",
    503: "Service unavailable",
}


@dataclass(frozen=True)
class Problem:
    """What a client is told of a failed request: nothing an operator alone should see."""

    status: int
    code: str
    detail: str
    field: str | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def title(self) -> str:
        return TITLES.get(self.status, "Error")

    def body(self, instance: str | None) -> dict[str, Any]:
        """``instance``: the request's path, or None where even that is not to be echoed."""
        out: dict[str, Any] = {
            "type": f"urn:referral-ledger:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance is not None:
            out["instance"] = instance
        if self.field is not None:
            out["field"] = self.field
        return {**self.details, **out}


def _nearest(table: dict[type[LedgerError], Any], error: LedgerError) -> Any:
    """The entry of the error's nearest class in `table` (LedgerError is always there)."""
    return next(table[c] for c in type(error).__mro__ if c in table)


def _details(error: RejectedError) -> Mapping[str, Any]:
    """Extension members a refusal carries for its caller (RFC 9457 section 3.2): the
    list of field errors, the ID of what an ID conflicts with."""
    details = getattr(error, "details", None)
    return dict(details) if isinstance(details, Mapping) else {}


def _ledger_problem(error: LedgerError) -> Problem:
    status = _nearest(STATUS, error)
    if isinstance(error, RejectedError):
        return Problem(status, error.code, str(error), error.field, _details(error))
    if isinstance(error, UnavailableError):
        log.warning("unavailable: %s", error)
    else:
        log.error("%s: %s", error.code, error)
    return Problem(status, error.code, _nearest(FAULT_DETAIL, error))


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


def _http_problem(error: HTTPException) -> Problem:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 422:
        field = _first_field(data.get("messages"))
        return Problem(422, "invalid_request", "the request does not match its schema", field)
    if status == 400:
        return Problem(400, "malformed_request", "the request body is not valid JSON")
    if status >= 500:
        return Problem(status, "internal_error", UNEXPECTED_DETAIL)
    code = (error.name or "error").lower().replace(" ", "_")
    return Problem(status, code, error.description or error.name)


def problem_for(error: BaseException) -> Problem:
    """The status and safe body for any exception; a fault or a bug is logged here."""
    if isinstance(error, LedgerError):
        return _ledger_problem(error)
    if isinstance(error, HTTPException):
        return _http_problem(error)
    where = f" on {request.method} {request.path}" if has_request_context() else ""
    log.error("unhandled error%s", where, exc_info=error)
    return Problem(500, "internal_error", UNEXPECTED_DETAIL)


def problem(found: Problem) -> Response:
    """The problem+json response, its code noted for the audit log."""
    g.problem_code = found.code
    response = Response(json.dumps(found.body(request.path)), status=found.status, mimetype=PROBLEM)
    if found.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ledger-gw"'
    return response


def _handle(error: Exception) -> Response:
    response = problem(problem_for(error))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def register(app: Flask) -> None:
    """After flask-smorest's Api(), whose own HTTPException handler this one replaces.

    A path with an empty segment (`/v1//registrations`) is no route: werkzeug would
    redirect it to the path without, past these handlers, in an HTML page and to an
    absolute URL made of the Host header and the scheme the gateway was reached by
    (plain http behind a proxy that ends TLS)."""
    app.url_map.merge_slashes = False
    app.register_error_handler(HTTPException, _handle)
    app.register_error_handler(Exception, _handle)
