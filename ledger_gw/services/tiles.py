"""The embedded log served as C2SP tlog-tiles: the latest witnessed checkpoint, hash tiles
and entry bundles, so that auditors and witnesses compute every proof themselves.

Tiles are read at the size of the latest checkpoint the consortium's witness quorum
cosigned (the latest the log signed while no quorum is set): nothing beyond a witnessed
size is served, and what a client proves against is the history everyone else sees.
On Fabric the history is a chain of orderer-signed blocks, not a Merkle tree, and there
are no tiles to serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ledger_gw.errors import NotFoundError
from ledger_gw.interfaces import Anchor, VerifiableLog
from ledger_gw.log import tiles


@runtime_checkable
class TiledLog(Protocol):
    """A verifiable log that is a Merkle tree: the embedded ledger's."""

    def anchor(self, size: int | None = None) -> Anchor: ...

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
    """The latest witnessed checkpoint note, with its witnesses' cosignatures."""
    return str(_tiled(log).anchor().note)


def _tree_size(log: TiledLog) -> int:
    return log.anchor().size


def hash_tile(log: VerifiableLog, path: str) -> Served:
    """The hash tile at ``<L>/<N>[.p/<W>]``, at the witnessed tree size."""
    tiled = _tiled(log)
    tile = tiles.parse_path(path)
    if tile.entries:
        raise tiles.TilePathError(f"{path[:80]!r} is an entry bundle, not a hash tile")
    tiles.check_within(tile, _tree_size(tiled))
    hashes = tiled.tree_hashes(tile.node_level, tile.begin, tile.end)
    return Served(b"".join(hashes), tile.full)


def entry_bundle(log: VerifiableLog, path: str) -> Served:
    """The entry bundle at ``entries/<N>[.p/<W>]``, at the witnessed tree size."""
    tiled = _tiled(log)
    tile = tiles.parse_path(f"entries/{path}")
    tiles.check_within(tile, _tree_size(tiled))
    return Served(tiles.encode_bundle(tiled.leaves(tile.begin, tile.end)), tile.full)
