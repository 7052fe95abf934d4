"""Rate limits: on refused tokens, on the expensive routes (and the dashboard pages that
do the same), on dashboard log-in, and on the routes anyone may call without a token.

Counts live in LEDGER_GW_RATE_LIMIT_STORAGE (default ``memory://``: each worker counts
alone, which is enough for the demo; several workers or hosts need a shared store such as
``redis://host:6379``). Over a limit the answer is 429 problem+json with Retry-After.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from werkzeug.exceptions import TooManyRequests

from ledger_gw.peers import source
from ledger_gw.services.config import GatewayConfig

#: Default limits, each overridable through the Flask setting of the same name.
LIMITS = {
    "AUTH_FAILURE_LIMIT": "30/minute",  # refused tokens per client address
    "EXPENSIVE_LIMIT": "120/minute",  # per token: see EXPENSIVE_BLUEPRINTS
    "LOGIN_LIMIT": "10/minute",  # dashboard log-in attempts per client address
    "PUBLIC_LIMIT": "600/minute",  # per client address: validity statements, no token
}
# Credentials: a card is a picture to render, or to read back (up to a 40-megapixel photo).
EXPENSIVE_BLUEPRINTS = ("registrations", "pseudonyms", "audit", "reports", "credentials")
# Called without a token: validity statements, signed for whoever asks (each maybe after
# reading new blocks from a peer); hand-over fetches, whose signature is checked first.
PUBLIC_BLUEPRINTS = ("validity", "handovers")
_EXPENSIVE = "expensive"  # the shared limit's scope
F = TypeVar("F", bound=Callable[..., Any])


def _client() -> str:
    """The client's address, an IPv6 one as its /64: a host given a whole /64 would
    otherwise pass every limit per address by rotating through it."""
    return source(request.remote_addr or "unknown")


def _caller_key() -> str:
    """The authenticated caller's token ID (one client, many addresses)."""
    caller = g.get("caller")
    return f"token:{caller.token_id}" if caller is not None else f"addr:{_client()}"


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config.get(name, LIMITS[name]))


def _limiter() -> Limiter:
    limiter: Limiter = current_app.extensions["ledger_gw_limiter"]
    return limiter


def _failure_limit() -> RateLimitItem:
    return parse(_setting("AUTH_FAILURE_LIMIT")())


def _held_back(item: RateLimitItem, keys: tuple[str, str], message: str, cost: int = 1) -> NoReturn:
    """429, with the seconds until the window lets ``keys`` through again (Retry-After):
    for one request, once its oldest counted request leaves the moving window; for
    several, which wait for as many to leave, once every request counted now has left
    it (the storage tells the oldest one's time only)."""
    if cost > 1:
        g.retry_after = item.get_expiry()
    else:
        reset = _limiter().limiter.get_window_stats(item, *keys).reset_time
        g.retry_after = max(1, math.ceil(reset - time.time()))
    raise TooManyRequests(message)


def check_failures() -> None:
    """Refuse a client whose tokens were refused too often lately, before checking another."""
    item, keys = _failure_limit(), ("auth-failure", _client())
    if not _limiter().limiter.test(item, *keys):
        _held_back(item, keys, "too many refused tokens from this address: wait and retry")


def spend_expensive() -> None:
    """For a route of an expensive blueprint, once its caller is authenticated: a token
    is counted only when it is one, so nobody spends another's allowance by sending
    forged tokens that name its ID."""
    if request.blueprint in EXPENSIVE_BLUEPRINTS:
        _spend_expensive()


def _spend_expensive(requests: int = 1) -> None:
    # The arguments flask-limiter hits a shared limit with: one count for both doors.
    item, keys = parse(_setting("EXPENSIVE_LIMIT")()), (_caller_key(), _EXPENSIVE)
    cost = min(requests, item.amount)
    if not _limiter().limiter.hit(item, *keys, cost=cost):
        message = "too many expensive requests with this token: wait and retry"
        _held_back(item, keys, message, cost)


def expensive(view: F) -> F:
    """For a dashboard page that does what an expensive route of the API does (under
    `page`, which names its caller): it spends the same token's allowance, so the
    dashboard is no way around the API's limit."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _spend_expensive()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def charge(requests: int) -> None:
    """For a dashboard page (under `page`) that does the work of several expensive
    requests, before it does it: it spends as many of the token's allowance. At most the
    whole allowance, so that the page still loads once a window is free."""
    _spend_expensive(requests)


def count_failure() -> None:
    _limiter().limiter.hit(_failure_limit(), "auth-failure", _client())


def _retry_after(response: Response) -> Response:
    seconds = g.get("retry_after")
    if response.status_code == 429 and seconds is not None:
        response.headers["Retry-After"] = str(seconds)
    return response


def init_app(app: Flask, config: GatewayConfig) -> None:
    """After the blueprints and the dashboard are registered: it limits them by name."""
    limiter = Limiter(
        _client,
        app=app,
        storage_uri=config.rate_limit_storage,
        strategy="moving-window",
        headers_enabled=True,
    )
    app.extensions["ledger_gw_limiter"] = limiter
    public = limiter.shared_limit(_setting("PUBLIC_LIMIT"), scope="public", key_func=_client)
    for name in PUBLIC_BLUEPRINTS:
        public(cast(Blueprint, app.blueprints[name]))
    login: Callable[..., Any] | None = app.view_functions.get("dashboard.login")
    if login is not None:
        limit = limiter.limit(_setting("LOGIN_LIMIT"), key_func=_client, methods=["POST"])
        app.view_functions["dashboard.login"] = limit(login)  # it checks when called
    app.after_request(_retry_after)
