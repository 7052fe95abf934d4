"""Dashboard log-in: the same bearer tokens as the API, kept in a signed session cookie.

The cookie is HttpOnly (no script reads the token), SameSite=Strict (no other site's
page can send it) and Secure unless configured off, then also `__Host-` (no sibling host
can set it). A browser sends a host's cookies to every port of it, so each gateway names
its cookie after its own session key: two gateways on one host name (compose publishes
them on ports of 127.0.0.1) no longer overwrite each other's sessions; only a host name
of its own keeps one from receiving the other's. The token is checked again on every
request, so a revoked token logs the browser out within the 5 s a process trusts a
valid token; a session unused for
IDLE_SECONDS is over too, whatever is left of its SESSION_SECONDS. Each POST form carries a
per-session CSRF token, compared in constant time. Each log-in is a session recorded in
the organisation's database: logging out ends it there, so the cookie dies with it, and
so does a copy of the cookie presented after sitting idle: a copy someone else keeps in
use dies when the owner's browser comes back to it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, current_app, g, redirect, request, session, url_for
from werkzeug.exceptions import BadRequest

from api.auth import authenticate_token, gateway
from ledger_gw.errors import AuthenticationError
from ledger_gw.services import access, dashboard_sessions
from ledger_gw.services.access import Action, Caller
from ledger_gw.services.config import GatewayConfig

log = logging.getLogger("api.dashboard")
F = TypeVar("F", bound=Callable[..., Any])
SESSION_SECONDS = int(dashboard_sessions.LIFETIME.total_seconds())
# A field device is shared and may be left open: a session nobody used for this long is
# over, so the next person to pick it up finds the log-in page, not the last caseworker's.
IDLE_SECONDS = 30 * 60


def configure(app: Flask, config: GatewayConfig) -> None:
    """Session secret from the configured file (shared by every worker), cookie flags."""
    path = config.session_key_path
    if path.exists():
        secret = path.read_text().strip()
    else:
        log.warning("no %s: dashboard sessions last only as long as this process", path)
        secret = secrets.token_hex(32)
    own = hashlib.sha256(b"ledger-gw session cookie\0" + secret.encode()).hexdigest()[:12]
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME=f"{'__Host-' if config.cookie_secure else ''}ledger_gw_{own}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.cookie_secure,
        # Kept past an idle-out, so that the browser presents it once more and the
        # session ends server-side, for every copy of the cookie (current_caller).
        PERMANENT_SESSION_LIFETIME=SESSION_SECONDS,
    )


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def csrf_ok() -> bool:
    sent, expected = request.form.get("csrf", ""), str(session.get("csrf", ""))
    # Compared as bytes: compare_digest refuses a str beyond ASCII, which a form may send.
    return bool(sent and expected) and hmac.compare_digest(sent.encode(), expected.encode())


class StaleForm(BadRequest):
    """A form posted without this session's CSRF token."""

    description = "the form's CSRF token is missing or stale: reload the page"


def check_csrf() -> None:
    if not csrf_ok():
        raise StaleForm()


def _fernet() -> Fernet:
    """Flask signs its session cookie but does not encrypt it: the token inside is
    encrypted too, so a leaked cookie (a log, a proxy) does not leak the API token."""
    secret = current_app.secret_key
    key = secret.encode() if isinstance(secret, str) else bytes(secret or b"")
    digest = hashlib.sha256(b"ledger-gw dashboard token\0" + key)
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def log_in(token: str) -> Caller:
    """Check the token, then start a fresh session (no fixation) holding it, encrypted;
    a session this browser held before ends server-side, as at log-out."""
    caller = authenticate_token(token)
    if current_caller() is not None:
        log_out()
    session.clear()
    session.permanent = True
    session["token"] = _fernet().encrypt(token.encode()).decode()
    session["sid"] = dashboard_sessions.start(gateway().store(caller.org), caller.token_id)
    session["csrf"] = secrets.token_urlsafe(32)
    session["seen"] = int(time.time())
    g.caller = caller  # the audit log records the log-in as its own, not the session's before
    return caller


def log_out() -> None:
    """End the session server-side too: a copy of the cookie is worthless afterwards."""
    caller, sid = current_caller(), session.get("sid")
    if caller is not None and isinstance(sid, str):
        dashboard_sessions.end(gateway().store(caller.org), sid)
    session.clear()


def current_caller() -> Caller | None:
    """The session's caller, this request noted as its latest; None (the session
    cleared) once it has ended, lasted SESSION_SECONDS or sat idle over IDLE_SECONDS.
    A cookie idle that long ends its session server-side: a copy of it kept in use
    elsewhere, which the server cannot tell from its owner, is refused from then on."""
    sealed, sid, seen = session.get("token"), session.get("sid"), session.get("seen")
    if not isinstance(sealed, str) or not isinstance(sid, str):
        return None
    now = int(time.time())
    try:
        token = _fernet().decrypt_at_time(sealed.encode(), SESSION_SECONDS, now).decode()
        caller = authenticate_token(token)
    except (InvalidToken, AuthenticationError):
        session.clear()
        return None
    store = gateway().store(caller.org)
    idle = not isinstance(seen, int) or now - seen > IDLE_SECONDS
    if idle:
        dashboard_sessions.end(store, sid)
    if idle or not dashboard_sessions.is_live(store, sid, caller.token_id):
        session.clear()
        return None
    session["seen"] = now
    g.caller = caller  # the audit log records dashboard requests as it does API ones
    return caller


def page(action: Action | None = None) -> Callable[[F], F]:
    """Logged-in callers only (else to the log-in page); with `action`, roles allowed it."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = current_caller()
            if caller is None:
                # Back to a page after the log-in, never to a form's address: it may
                # answer only POST, and the form is not sent again.
                back = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("dashboard.login", next=back))
            if action is not None:
                access.authorise(caller, action)
            if request.method == "POST":
                check_csrf()
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def can(caller: Caller, action: Action) -> bool:
    return caller.role in access.PERMISSIONS[action]
