"""tlog-tiles geometry against the C2SP text's own examples, and proofs rebuilt from tiles
against proofs made from every node of the tree."""

from __future__ import annotations

import hashlib

import pytest

from ledger_gw.errors import UnsupportedError
from ledger_gw.log.merkle import (
    CompactRange,
    NodeID,
    ProofError,
    consistency_nodes,
    inclusion_nodes,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger_gw.log.tiles import (
    Tile,
    TilePathError,
    check_within,
    decode_bundle,
    decode_hashes,
    encode_bundle,
    parse_path,
    proof_from_tiles,
    tile_of,
)


def test_path_encoding_as_the_spec_spells_it() -> None:
    assert Tile(0, 1234067).path == "tile/0/x001/x234/067"
    assert Tile(2, 0, 17).path == "tile/2/000.p/17"
    assert Tile(0, 1000, entries=True).path == "tile/entries/x001/000"
    for tile in (Tile(0, 1234067), Tile(5, 7, 255), Tile(0, 0, 1, entries=True)):
        assert parse_path(tile.path.removeprefix("tile/")) == tile


@pytest.mark.parametrize(
    "path",
    ["0/x000/001", "0/0001", "0/1", "01/000", "64/000", "0/000.p/0", "0/000.p/256",
     "0/000.p/007", "entries/000.p/256", "x/000", "0/x001", "0/000/", "/0/000", "0/-01",
     "0/" + "x123/" * 7 + "000", "entries/../000"],
)  # fmt: skip
def test_only_canonical_paths_parse(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_path(path)


def _widths(size: int, level: int) -> list[int]:
    out, n = [], 0
    while True:
        try:
            out.append(tile_of(level, n, size).width)
        except TilePathError:
            return out
        n += 1


def test_the_spec_example_trees() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
    # level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
    # 17, and one partial level 2 tile of width 1."
    assert _widths(70_000, 0) == [256] * 273 + [112]
    assert _widths(70_000, 1) == [256, 17]
    assert _widths(70_000, 2) == [1]
    assert _widths(70_000, 3) == []
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
    # tile of width 1."
    assert (_widths(256, 0), _widths(256, 1)) == ([256], [1])
    check_within(Tile(0, 0, 112), 256 * 273 + 112)
    with pytest.raises(TilePathError):
        check_within(Tile(0, 273, 113), 256 * 273 + 112)


def test_bundles_round_trip_and_refuse_what_does_not_fit() -> None:
    entries = [b"", b"x", bytes(range(256)) * 3, b"\xff" * 0xFFFF]
    assert decode_bundle(encode_bundle(entries)) == entries
    assert encode_bundle([b"ab"]) == b"\x00\x02ab"
    with pytest.raises(UnsupportedError):
        encode_bundle([b"x" * 0x10000])
    for broken in (b"\x00", b"\x00\x03ab"):
        with pytest.raises(ProofError):
            decode_bundle(broken)
    with pytest.raises(ProofError):
        decode_hashes(Tile(0, 0, 2), b"\x00" * 63)


class _Tree:
    """Every perfect node of a tree, as the embedded ledger stores them."""

    def __init__(self, size: int) -> None:
        self.leaves = [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(size)]
        self.nodes: dict[NodeID, bytes] = {}
        self.roots: list[bytes] = []
        tree = CompactRange()
        for h in self.leaves:
            self.nodes.update(tree.append(h))
            self.roots.append(tree.root())
        self.fetched: list[Tile] = []

    def fetch(self, tile: Tile) -> list[bytes]:
        self.fetched.append(tile)
        return [self.nodes[NodeID(tile.node_level, i)] for i in range(tile.begin, tile.end)]


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 513, 65_537, 70_000])
def test_proofs_from_tiles_verify(size: int) -> None:
    tree = _Tree(size)
    root = tree.roots[-1]
    for index in {0, size // 2, size - 1}:
        proof = proof_from_tiles(inclusion_nodes(index, size), size, tree.fetch)
        verify_inclusion(tree.leaves[index], index, size, proof, root)
    for old in {1, size // 3 or 1, size - 1 or 1}:
        proof = proof_from_tiles(consistency_nodes(old, size), size, tree.fetch)
        verify_consistency(old, size, proof, tree.roots[old - 1], root)
    assert all(t.width == tile_of(t.level, t.index, size).width for t in tree.fetched)
