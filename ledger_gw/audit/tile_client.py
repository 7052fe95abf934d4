"""A tlog-tiles client: the checkpoint and the proofs a monitor needs, from a gateway's
``/v1/log`` over HTTP, computed here from the hash tiles rather than taken from the server.

Whatever the server sends is checked by the one who asked: the checkpoint by its
signatures (:class:`ledger_gw.audit.watch.Monitor`), the tiles by the proof they make
having to reproduce both signed roots.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

from ledger_gw import outbound, strict_json
from ledger_gw.errors import AuditError, UnavailableError
from ledger_gw.log.merkle import consistency_nodes
from ledger_gw.log.tiles import WIDTH, Tile, decode_hashes, proof_from_tiles

TIMEOUT_S = 30.0
_MAX_NOTE = 64 * 1024
_MAX_TILE = WIDTH * 32
_MAX_DETAIL = 200


class TileClient:
    """A :class:`ledger_gw.audit.watch.CheckpointSource` over a gateway's tiles."""

    def __init__(self, url: str, token: str | None = None, timeout: float = TIMEOUT_S) -> None:
        self.prefix = url.rstrip("/") + "/v1/log/"
        self.token = token
        self.timeout = timeout
        self._tiles: dict[Tile, list[bytes]] = {}

    def _get(self, path: str, limit: int) -> bytes:
        """The body, if the server sends it whole within the timeout (`outbound`); longer
        than ``limit``, ``limit + 1`` bytes of it (refused by the caller)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        request = urllib.request.Request(self.prefix + path, headers=headers)  # noqa: S310
        try:
            with outbound.urlopen(request, timeout=self.timeout) as reply:
                return bytes(reply.read(limit + 1))
        except urllib.error.HTTPError as error:
            with error:  # its reason already read, within the timeout
                detail = _problem_detail(error.read(_MAX_NOTE))
            raise AuditError(
                f"{self.prefix}{path} answered {error.code}: {detail}", code="log_refused"
            ) from None
        except (OSError, http.client.HTTPException) as exc:  # no HTTP answer at all
            raise UnavailableError(f"cannot reach {self.prefix}{path}: {exc}") from exc

    def latest_checkpoint(self) -> str:
        data = self._get("checkpoint", _MAX_NOTE)
        if len(data) > _MAX_NOTE:
            raise AuditError(
                f"the log's checkpoint is longer than {_MAX_NOTE} bytes", code="bad_checkpoint"
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AuditError("the log's checkpoint is not UTF-8", code="bad_checkpoint") from exc

    def tile(self, tile: Tile) -> list[bytes]:
        """A hash tile's hashes (each tile fetched once)."""
        if tile not in self._tiles:
            self._tiles[tile] = decode_hashes(tile, self._get(tile.path, _MAX_TILE))
        return self._tiles[tile]

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 consistency proof, made from the tiles of the tree of ``size2``."""
        return proof_from_tiles(consistency_nodes(size1, size2), size2, self.tile)


def _problem_detail(body: bytes) -> str:
    """The server's words, short and with no control character: they reach a terminal."""
    problem = strict_json.object_of(body)
    if "code" in problem and "detail" in problem:
        said = f"{problem['code']}: {problem['detail']}"
    else:
        said = body.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in said[:_MAX_DETAIL])
