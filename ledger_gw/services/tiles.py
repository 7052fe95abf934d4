"""The embedded log served as C2SP tlog-tiles: the latest checkpoint, hash tiles and entry
bundles, so that auditors and witnesses compute every proof themselves.

Tiles are read at the latest checkpoint's tree size: nothing beyond a signed size is
served. On Fabric the history is a chain of orderer-signed blocks, not a Merkle tree,
and there are no tiles to serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ledger_gw.errors import NotFoundError
from ledger_gw.interfaces import VerifiableLog
from ledger_gw.log import tiles
from ledger_gw.log.checkpoint import Checkpoint
from ledger_gw.log.note import Note


@runtime_checkable
class TiledLog(Protocol):
    """A verifiable log that is a Merkle tree: the embedded ledger's."""

    def checkpoint(self, size: int | None) -> Any: ...

    def tree_hashes(self, level: int, begin: int, end: int) -> list[bytes]: ...

    def leaves(self, begin: int, end: int) -> list[bytes]: ...


@dataclass(frozen=True)
class Served:
    """A tile's bytes, and whether they can never change (full tiles)."""

    data: bytes
    immutable: bool


def _tiled(log: VerifiableLog) -> TiledLog:
    if not isinstance(log, TiledLog):
        raise NotFoundError(
            "this ledger is not a Merkle tree log: on Hyperledger Fabric the history is a "
            "chain of orderer-signed blocks, which audit bundles carry; there are no tiles",
            code="no_tiled_log",
        )
    return log


def checkpoint(log: VerifiableLog) -> str:
    """The latest signed checkpoint note, with its witnesses' cosignatures."""
    return str(_tiled(log).checkpoint(None)["note"])


def _tree_size(log: TiledLog) -> int:
    return Checkpoint.parse(Note.parse(log.checkpoint(None)["note"]).text).size


def hash_tile(log: VerifiableLog, path: str) -> Served:
    """The hash tile at ``<L>/<N>[.p/<W>]``, at the latest checkpoint's tree size."""
    tiled = _tiled(log)
    tile = tiles.parse_path(path)
    if tile.entries:
        raise tiles.TilePathError(f"{path[:80]!r} is an entry bundle, not a hash tile")
    tiles.check_within(tile, _tree_size(tiled))
    hashes = tiled.tree_hashes(tile.node_level, tile.begin, tile.end)
    return Served(b"".join(hashes), tile.full)


def entry_bundle(log: VerifiableLog, path: str) -> Served:
    """The entry bundle at ``entries/<N>[.p/<W>]``, at the latest checkpoint's tree size."""
    tiled = _tiled(log)
    tile = tiles.parse_path(f"entries/{path}")
    tiles.check_within(tile, _tree_size(tiled))
    return Served(tiles.encode_bundle(tiled.leaves(tile.begin, tile.end)), tile.full)
