"""The log node's HTTP face (`ledger-gw log serve`): a thin Flask app over
ledger_gw.node, served by gunicorn over mutual TLS.

The caller is who its TLS client certificate says (gunicorn hands the app the TLS
socket): every route asks the node for that member first. Errors are problem+json,
with the error's kind so that a gateway raises the same error its own ledger would.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable
from typing import Any

import orjson
from flask import Flask, Response, request

from api import bodies
from api.errors import problem_for
from api.http_framing import MAX_NODE_BODY
from chaincode.stub import Identity
from ledger_gw.errors import ForbiddenError, LedgerError, MalformedError
from ledger_gw.node.service import LogNode, error_to_dict
from ledger_gw.services import tiles

PROBLEM = "application/problem+json"
_WHOLE = re.compile(r"[0-9]{1,19}")  # ASCII digits only: int() reads "٣" too


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        mimetype="application/json",
    )


def _problem(error: BaseException) -> Response:
    found = problem_for(error)
    body = found.body(request.path)
    if isinstance(error, LedgerError):
        body["error"] = error_to_dict(error)
    return Response(json.dumps(body), status=found.status, mimetype=PROBLEM)


def _peer_certificate() -> bytes | None:
    sock = request.environ.get("gunicorn.socket")
    if isinstance(sock, ssl.SSLSocket):
        return sock.getpeercert(binary_form=True)
    return request.environ.get("ledger_gw.peer_certificate")  # the test client's


def _int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not _WHOLE.fullmatch(value) or int(value) >= 2**63:
        raise MalformedError(f"{name} must be a whole number below 2^63", field=name)
    return int(value)


def _body(key: str) -> dict[str, Any]:
    try:
        data = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or key not in data:
        raise MalformedError(f"the body must be a JSON object with {key!r}")
    return data


def create_node_app(open_node: Callable[[], LogNode]) -> Flask:
    """The app for one process; the node (its ledger) is opened in that process."""
    app = Flask("ledger_gw_node")
    app.config["MAX_CONTENT_LENGTH"] = MAX_NODE_BODY
    bodies.init_app(app)
    node = open_node()
    app.extensions["ledger_gw_node"] = node

    def caller() -> Identity:
        return node.caller(_peer_certificate())

    @app.errorhandler(Exception)
    def _any(error: Exception) -> Response:
        return _problem(error)

    @app.post("/v1/node/submit")
    def submit() -> Response:
        who = caller()
        body = _body("transactions")
        return _json({"outcomes": node.submit(who, body["transactions"], body.get("creators"))})

    @app.post("/v1/node/evaluate")
    def evaluate() -> Response:
        who = caller()
        return _json(node.evaluate(who, _body("transaction")["transaction"]))

    @app.get("/v1/node/size")
    def size() -> Response:
        caller()
        return _json({"size": node.ledger.size()})

    @app.get("/v1/node/inclusion")
    def inclusion() -> Response:
        who = caller()
        return _json(
            node.inclusion(who, _int_arg("index"), request.args.get("tx"), _int_arg("size"))
        )

    @app.get("/v1/node/entries")
    def entries() -> Response:
        who = caller()
        begin, end = _int_arg("begin"), _int_arg("end")
        if begin is None or end is None:
            raise MalformedError("begin and end are required")
        return _json(node.entries(who, begin, end))

    @app.get("/v1/node/certificates")
    def certificates() -> Response:
        caller()
        return _json({"certificates": node.certificates()})

    @app.get("/v1/node/consistency")
    def consistency() -> Response:
        caller()
        size1 = _int_arg("size1")
        if size1 is None:
            raise MalformedError("size1 is required", field="size1")
        return _json(node.consistency(size1, _int_arg("size2")))

    @app.get("/v1/node/checkpoint")
    def checkpoint() -> Response:
        caller()
        return _json(node.checkpoint(_int_arg("size")))

    @app.get("/v1/node/checkpoint/trusted")
    def trusted() -> Response:
        caller()
        return _json(node.trusted_checkpoint())

    @app.get("/v1/log/checkpoint")
    def tiled_checkpoint() -> Response:
        caller()
        return Response(tiles.checkpoint(node.log), content_type="text/plain; charset=utf-8")

    @app.get("/v1/log/tile/<path:path>")
    def hash_tile(path: str) -> Response:
        who = caller()
        if path.startswith("entries/"):  # every member's events: auditors only
            if who.role != "auditor":
                raise ForbiddenError("entry bundles are for auditors", code="auditors_only")
            served = tiles.entry_bundle(node.log, path.removeprefix("entries/"))
        else:
            served = tiles.hash_tile(node.log, path)
        return Response(served.data, mimetype="application/octet-stream")

    @app.get("/readyz")
    def readyz() -> Response:
        caller()
        return _json({"status": "ready", "checks": node.ready()})

    return app
