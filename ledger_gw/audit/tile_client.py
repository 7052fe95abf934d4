"""A tlog-tiles client: the checkpoint and the proofs a monitor needs, from a gateway's
``/v1/log`` over HTTP, computed here from the hash tiles rather than taken from the server.

Whatever the server sends is checked by the one who asked: the checkpoint by its
signatures (:class:`ledger_gw.audit.watch.Monitor`), the tiles by the proof they make
having to reproduce both signed roots.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from typing import Protocol

from ledger_gw import outbound, strict_json
from ledger_gw.errors import AuditError, UnavailableError
from ledger_gw.log.merkle import consistency_nodes
from ledger_gw.log.tiles import WIDTH, Tile, decode_hashes, proof_from_tiles

TIMEOUT_S = 30.0
_MAX_NOTE = 64 * 1024
_MAX_TILE = WIDTH * 32
_MAX_DETAIL = 200


class _Body(Protocol):
    """An HTTP answer's body (a response, or the HTTPError carrying one)."""

    def read1(self, n: int = -1, /) -> bytes: ...


class TileClient:
    """A :class:`ledger_gw.audit.watch.CheckpointSource` over a gateway's tiles."""

    def __init__(self, url: str, token: str | None = None, timeout: float = TIMEOUT_S) -> None:
        self.prefix = url.rstrip("/") + "/v1/log/"
        self.token = token
        self.timeout = timeout
        self._tiles: dict[Tile, list[bytes]] = {}

    def _get(self, path: str, limit: int) -> bytes:
        """The body, if the server sends it whole within the timeout; longer than
        ``limit``, ``limit + 1`` bytes of it (refused by the caller)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        request = urllib.request.Request(self.prefix + path, headers=headers)  # noqa: S310
        deadline = time.monotonic() + self.timeout
        try:
            with outbound.urlopen(request, timeout=self.timeout) as reply:
                return _read_by(reply, limit + 1, deadline)
        except urllib.error.HTTPError as error:
            with error:
                detail = _problem_detail(error, deadline)
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


def _read_by(reply: _Body, most: int, deadline: float) -> bytes:
    """At most ``most`` bytes of a body, read by ``deadline`` (time.monotonic()): a
    socket's timeout bounds each read, not a server that sends a byte as each ends."""
    data = bytearray()
    while len(data) < most:
        chunk = reply.read1(most - len(data))
        if not chunk:
            break
        data += chunk
        if time.monotonic() > deadline:
            raise TimeoutError(f"the answer was not whole in time ({len(data)} bytes)")
    return bytes(data)


def _problem_detail(refusal: _Body, deadline: float) -> str:
    """The server's words, short and with no control character: they reach a terminal."""
    try:
        body = _read_by(refusal, _MAX_NOTE, deadline)
    except (OSError, http.client.HTTPException) as exc:
        return f"(its reason unread: {exc})"
    problem = strict_json.object_of(body)
    if "code" in problem and "detail" in problem:
        said = f"{problem['code']}: {problem['detail']}"
    else:
        said = body.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in said[:_MAX_DETAIL])
