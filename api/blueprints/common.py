"""Decorators shared by the blueprints: authentication, roles and documented errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import request
from flask_smorest import Blueprint

from api.auth import requires
from api.errors import PROBLEM
from api.schemas import ProblemSchema
from ledger_gw.services.access import PERMISSIONS, Action

F = TypeVar("F", bound=Callable[..., Any])

DESCRIPTIONS = {
    400: "Malformed JSON",
    401: "No valid bearer token",
    403: "The caller's role or organisation may not do this",
    404: "No such object",
    409: "The object's state or an ID conflicts",
    422: "A field is missing, unknown or malformed (see `field`)",
    503: "The ledger or a database cannot be reached",
}


def errors(blp: Blueprint, *statuses: int) -> Callable[[F], F]:
    """Document problem+json responses for these statuses."""

    def decorate(view: F) -> F:
        for status in statuses:
            view = blp.alt_response(
                status,
                schema=ProblemSchema,
                description=DESCRIPTIONS[status],
                content_type=PROBLEM,
            )(view)
        return view

    return decorate


def protected(blp: Blueprint, action: Action, *statuses: int) -> Callable[[F], F]:
    """Bearer token with a role allowed to do `action`; documents 401, 403, 503 and more."""
    roles = ", ".join(sorted(PERMISSIONS[action]))

    def decorate(view: F) -> F:
        view = requires(action)(view)
        view = errors(blp, 401, 403, 503, *statuses)(view)
        doc = blp.doc(
            security=[{"bearerAuth": []}],
            description=(view.__doc__ or "").strip() + f"\n\nRoles: {roles}.",
        )
        return doc(view)  # type: ignore[no-any-return]

    return decorate


def paged(out: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A page with its `next` cursor also as an RFC 8288 `Link: <...>; rel="next"`."""
    headers: dict[str, str] = {}
    if out.get("next"):
        args = request.args.to_dict() | {"cursor": out["next"]}
        headers["Link"] = f'<{request.path}?{urlencode(args)}>; rel="next"'
    return out, 200, headers
