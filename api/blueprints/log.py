"""/v1/log: the embedded log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles).

Any member reads the checkpoint and the hash tiles, and computes every proof from them;
entry bundles hold every organisation's events, so only auditors read them.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from api.auth import gateway
from api.blueprints.common import protected
from ledger_gw.services import tiles
from ledger_gw.services.access import Action

blp = Blueprint(
    "log",
    __name__,
    url_prefix="/v1/log",
    description="The embedded log as C2SP tlog-tiles: checkpoint, hash tiles, entry bundles",
)

IMMUTABLE = "private, max-age=31536000, immutable"
SHORT = "private, max-age=5"
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _tile(served: tiles.Served) -> Response:
    response = Response(served.data, mimetype="application/octet-stream")
    response.headers["Cache-Control"] = IMMUTABLE if served.immutable else SHORT
    return response


@blp.route("/checkpoint", methods=["GET"])
@protected(blp, Action.PROOFS_READ, 404)
@blp.doc(responses={"200": {"description": "The signed checkpoint note", "content": _TEXT}})
def checkpoint() -> Response:
    """The latest checkpoint (C2SP tlog-checkpoint) with its witnesses' cosignatures."""
    response = Response(tiles.checkpoint(gateway().log), content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = SHORT
    return response


@blp.route("/tile/entries/<path:path>", methods=["GET"])
@protected(blp, Action.LOG_ENTRIES, 404)
@blp.doc(responses={"200": {"description": "An entry bundle", "content": _BINARY}})
def entry_bundle(path: str) -> Response:
    """Entry bundle `<N>[.p/<W>]`: the log entries of a level-0 tile, each prefixed by its
    length (big-endian uint16). Full bundles never change."""
    return _tile(tiles.entry_bundle(gateway().log, path))


@blp.route("/tile/<path:path>", methods=["GET"])
@protected(blp, Action.PROOFS_READ, 404)
@blp.doc(responses={"200": {"description": "A hash tile", "content": _BINARY}})
def hash_tile(path: str) -> Response:
    """Hash tile `<L>/<N>[.p/<W>]`: up to 256 Merkle Tree Hashes (RFC 6962) of subtrees
    of height 8·L, in the tree of the latest checkpoint. Full tiles never change."""
    return _tile(tiles.hash_tile(gateway().log, path))
