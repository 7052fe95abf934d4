"""JSON in and out of Flask: strict reading of request bodies, orjson writing.

Every JSON request body is read from its raw bytes by :mod:`ledger_gw.strict_json`
before any view, schema or contract sees it: a repeated key, nesting past a few
dozen levels, a lone surrogate or an integer no database holds is refused with its
own code, while the bytes still show it (a dict no longer does).

Output is Flask's default provider's (sorted keys, its `default` for dates, decimals
and dataclasses) through orjson: the standard library's encoder was a visible share
of a batch's time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider

from ledger_gw import strict_json

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_json.loads(s)


F = TypeVar("F", bound=Callable[..., Any])


def raw_body(view: F) -> F:
    """Mark a view that reads its body's bytes itself (and as strictly), as the bundle
    verifier does, answering in its own terms."""
    view.__dict__["_raw_body"] = True
    return view


def read_json_body() -> None:
    """Parse a JSON body once, strictly; Flask caches the value for ``get_json``.

    webargs reads the same bytes again with the standard library, which can no longer
    be surprised by them."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "_raw_body", False):
        return
    if request.is_json and request.get_data(cache=True):
        request.get_json(cache=True)


def _before_view() -> None:
    """A route that needs a token reads its body once the caller is known
    (api.auth.requires): a bad token is then refused and counted whatever the body, and a
    member's malformed body is refused under its token, in its audit log."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "_required_action", None) is None:
        read_json_body()


def init_app(app: Flask) -> None:
    """Strict reading for every route, present and future, before its view runs."""
    app.json = OrjsonProvider(app)
    app.before_request(_before_view)
