"""Bearer-token authentication, role checks and the audit log, for every /v1 route."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request

from api import ratelimit
from api.json_provider import read_json_body
from api.metrics import AUTH_FAILURES
from ledger_gw.errors import AuthenticationError, LedgerError
from ledger_gw.services import access, request_log
from ledger_gw.services.access import Action, Caller
from ledger_gw.services.gateway import Gateway

log = logging.getLogger("api.audit")
F = TypeVar("F", bound=Callable[..., Any])


def gateway() -> Gateway:
    return cast(Gateway, current_app.extensions["ledger_gw"])


def caller() -> Caller:
    return cast(Caller, g.caller)


def authenticate_token(token: str) -> Caller:
    """The caller a token stands for, from the database of the organisation it names
    (the dashboard's session holds the same tokens, so both check them here). A refusal
    is counted and recorded in the named organisation's log, by token ID only; a client
    refused too often is refused at once (429)."""
    ratelimit.check_failures()
    try:
        org = access.token_org(token)
        store = gateway().stores.get(org)
        if store is None:
            raise AuthenticationError("unknown bearer token", code="invalid_token")
        return access.authenticate(store, token)
    except AuthenticationError as exc:
        _record_failure(token, exc)
        raise


def _record_failure(token: str, error: AuthenticationError) -> None:
    AUTH_FAILURES.labels(error.code).inc()
    ratelimit.count_failure()
    token_id = access.token_id_of(token)
    store = gateway().stores.get(access.token_org(token)) if token_id else None
    if store is None:
        return  # nothing names an organisation whose log would hold it
    route = request.url_rule.rule if request.url_rule is not None else request.path
    try:
        store.audit(
            request_log.row(
                token_id=token_id,
                role=None,
                method=request.method,
                route=route,
                pid=None,
                status=401,
                code=error.code,
            )
        )
    except LedgerError:
        log.exception("audit record failed for a refused token %s", token_id)


def _authenticate() -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        error = AuthenticationError("a bearer token is required", code="missing_token")
        AUTH_FAILURES.labels(error.code).inc()
        raise error
    return authenticate_token(token.strip())


def requires(action: Action) -> Callable[[F], F]:
    """Authenticate the caller (401) and check its role may do `action` (403)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.caller = _authenticate()
            access.authorise(g.caller, action)
            ratelimit.spend_expensive()
            read_json_body()
            return view(*args, **kwargs)

        wrapper.__dict__["_required_action"] = action
        return cast(F, wrapper)

    return decorate


def audit_pid(pid: str | None) -> None:
    """Name the person a request was about, for the audit log."""
    g.audit_pid = pid


def _record(response: Response) -> Response:
    who: Caller | None = g.get("caller")
    if who is None or request.url_rule is None:
        return response
    view_args = request.view_args or {}
    pid = g.get("audit_pid") or view_args.get("pid")
    try:
        gateway().stores[who.org].audit(
            request_log.row(
                token_id=who.token_id,
                role=who.role.value,
                method=request.method,
                route=request.url_rule.rule,
                pid=pid,
                status=response.status_code,
                code=g.get("problem_code"),
            )
        )
    except LedgerError:
        log.exception("audit record failed for token %s", who.token_id)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_record)
