"""The node's Merkle tree at one size, read from its hash tiles: inclusion proofs made
here, so that checking many receipts takes a few requests rather than one each.

Nothing read here is trusted: a proof made from forged tiles does not reproduce the
cosigned root it is checked against.
"""

from __future__ import annotations

from ledger_gw.log.merkle import CompactRange, NodeID, inclusion_nodes
from ledger_gw.log.tiles import Tile, decode_hashes, hash_of
from ledger_gw.remote.client import NodeClient


class TiledTree:
    """The tree of ``size`` as the node's tiles show it; each tile fetched once, each
    node hashed once."""

    def __init__(self, node: NodeClient, size: int) -> None:
        self.node = node
        self.size = size
        self._tiles: dict[Tile, list[bytes]] = {}
        self._hashes: dict[NodeID, bytes] = {}

    def _tile(self, tile: Tile) -> list[bytes]:
        if tile not in self._tiles:
            data = self.node.get_bytes(f"/v1/log/{tile.path}")
            self._tiles[tile] = decode_hashes(tile, data)
        return self._tiles[tile]

    def _hash(self, node: NodeID) -> bytes:
        if node not in self._hashes:
            self._hashes[node] = hash_of(node, self.size, self._tile)
        return self._hashes[node]

    def border(self) -> CompactRange:
        """The roots of the perfect subtrees covering the whole tree: what hashing its
        entries one by one would end with, in a few requests."""
        return CompactRange(self.size, [self._hash(n) for n in CompactRange.border_ids(self.size)])

    def inclusion_proof(self, index: int) -> list[bytes]:
        plan = inclusion_nodes(index, self.size)
        return plan.rehash([self._hash(node) for node in plan.ids])
