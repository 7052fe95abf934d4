"""A chunked request body over the limit is refused as 413, as one with Content-Length is.

werkzeug stops reading a chunked body at MAX_CONTENT_LENGTH and hands the view the bytes
read so far: truncated JSON, answered 400. Reading it here, one byte past the limit, tells
the two apart. The body is in memory already (the serving worker read it whole).
"""

from __future__ import annotations

import io

from flask import Flask, current_app, request
from gunicorn.http.errors import ParseException  # type: ignore[import-untyped]
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from api.http_framing import BODY_TOO_LARGE_KEY


def _bound_chunked_body() -> None:
    if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        return
    if request.environ.get(BODY_TOO_LARGE_KEY):  # the worker saw it: the rest may never come
        raise RequestEntityTooLarge()
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        data = request.environ["wsgi.input"].read(limit + 1)
    except ParseException:  # gunicorn reads chunk sizes as they come: "-6" is no size
        raise BadRequest("the request's chunked body is not well formed") from None
    if len(data) > limit:
        raise RequestEntityTooLarge()
    request.environ["wsgi.input"] = io.BytesIO(data)


def init_app(app: Flask) -> None:
    app.before_request(_bound_chunked_body)
