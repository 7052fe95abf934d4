"""The validity tree's proofs from whole tiles' roots: the same hashes as from every
leaf, at any size, tile or not."""

from __future__ import annotations

import hashlib
import random

import pytest

from ledger_gw.audit.fabric_validity import ValidityTree
from ledger_gw.log.merkle import root_of, verify_consistency, verify_inclusion


def _blocks(leaves: int, seed: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    hashes = [hashlib.sha256(b"%d" % i).digest() for i in range(leaves)]
    blocks: list[list[bytes]] = [[]]  # the genesis block states nothing
    while hashes:
        cut = rng.randint(1, 40)
        blocks.append(hashes[:cut])
        del hashes[:cut]
    return blocks


def _tiled(plain: ValidityTree, level: int) -> ValidityTree:
    leaves = plain.leaves()
    tile = 1 << level
    tiles = [root_of(leaves[i : i + tile]) for i in range(0, len(leaves) - tile + 1, tile)]
    return ValidityTree(plain.genesis_hash, plain.blocks, tiles, level)


@pytest.mark.parametrize(("leaves", "level"), [(1300, 8), (1024, 8), (255, 8), (77, 2), (64, 3)])
def test_tiles_prove_what_the_leaves_prove(leaves: int, level: int) -> None:
    plain = ValidityTree(b"g" * 32, _blocks(leaves, leaves))
    tiled = _tiled(plain, level)
    cp = plain.checkpoint()
    assert tiled.checkpoint() == cp
    rng = random.Random(level)
    for leaf in sorted({0, leaves - 1, *rng.sample(range(leaves), min(60, leaves))}):
        proof = tiled.proof(leaf)
        assert proof == plain.proof(leaf)
        verify_inclusion(plain.leaves()[leaf], leaf, leaves, proof, cp.root_hash)
    for size1 in sorted({1, leaves, *rng.sample(range(1, leaves + 1), min(30, leaves))}):
        size2 = rng.randint(size1, leaves)
        proof = tiled.consistency(size1, size2)
        assert proof == plain.consistency(size1, size2)
        roots = (root_of(plain.leaves()[:size1]), root_of(plain.leaves()[:size2]))
        verify_consistency(size1, size2, proof, *roots)


def test_fewer_tiles_than_the_leaves_hold_fall_back_to_the_leaves() -> None:
    plain = ValidityTree(b"g" * 32, _blocks(1300, 3))
    half = _tiled(plain, 8)
    half.tiles = half.tiles[:2]
    assert [half.proof(n) for n in (0, 700, 1299)] == [plain.proof(n) for n in (0, 700, 1299)]
    assert half.checkpoint() == plain.checkpoint()
