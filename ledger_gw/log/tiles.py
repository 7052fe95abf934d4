"""The log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): which hashes a tile holds,
its path, entry bundles, and proofs rebuilt from tiles. Pure: no I/O.

A hash tile at level ``L`` and index ``N`` lists up to 256 consecutive Merkle Tree Hashes
of perfect subtrees of height ``8 * L``, starting at subtree ``N * 256``: in this
package's terms the nodes ``NodeID(8 * L, N * 256 + i)``. A full tile holds 256; the
rightmost tiles of a tree are partial (``.p/<W>``, 1 to 255 hashes). An entry bundle lists
the leaf data of a level-0 tile, each entry prefixed by its length as a big-endian uint16.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger_gw.errors import NotFoundError, UnsupportedError
from ledger_gw.log.merkle import HASH_SIZE, NodeID, ProofError, ProofNodes, node_hash

__all__ = [
    "HEIGHT",
    "MAX_ENTRY",
    "WIDTH",
    "Tile",
    "TilePathError",
    "check_within",
    "decode_bundle",
    "decode_hashes",
    "encode_bundle",
    "hash_of",
    "parse_path",
    "proof_from_tiles",
    "tile_of",
]

HEIGHT = 8
WIDTH = 1 << HEIGHT  # hashes in a full tile, entries in a full bundle
MAX_LEVEL = 63
MAX_ENTRY = 0xFFFF  # the longest entry a uint16 length prefix can announce
_MAX_GROUPS = 7  # 3-digit groups: indexes below 10**21, beyond any 64-bit tree

_PATH = re.compile(
    r"(?:(?P<entries>entries)|(?P<level>0|[1-9][0-9]?))"
    rf"/(?P<index>(?:x[0-9]{{3}}/){{0,{_MAX_GROUPS - 1}}}[0-9]{{3}})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


class TilePathError(NotFoundError):
    """No tile has this path: it is malformed, or names a tile the tree does not have."""

    code = "no_such_tile"


@dataclass(frozen=True, slots=True)
class Tile:
    """A hash tile (``entries`` False) or an entry bundle (True) of ``width`` items."""

    level: int
    index: int
    width: int = WIDTH
    entries: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_LEVEL or (self.entries and self.level):
            raise ValueError(f"no tile level {self.level}")
        if self.index < 0 or not 1 <= self.width <= WIDTH:
            raise ValueError(f"no tile of index {self.index} and width {self.width}")

    @property
    def full(self) -> bool:
        """Full tiles never change; partial ones are replaced as the tree grows."""
        return self.width == WIDTH

    @property
    def node_level(self) -> int:
        """The Merkle level of the subtrees whose hashes the tile lists."""
        return HEIGHT * self.level

    @property
    def begin(self) -> int:
        """Index, at :attr:`node_level`, of the tile's first subtree (or entry)."""
        return self.index * WIDTH

    @property
    def end(self) -> int:
        return self.begin + self.width

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``."""
        head = "entries" if self.entries else str(self.level)
        tail = "" if self.full else f".p/{self.width}"
        return f"tile/{head}/{_encode_index(self.index)}{tail}"


def _encode_index(index: int) -> str:
    """1234067 → ``x001/x234/067``: 3-digit groups, all but the last prefixed ``x``."""
    groups = []
    while True:
        index, group = divmod(index, 1000)
        groups.append(f"{group:03d}")
        if not index:
            break
    return "/".join([*(f"x{g}" for g in reversed(groups[1:])), groups[0]])


def parse_path(path: str) -> Tile:
    """The tile of a path below ``tile/``: ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]``.

    Only the canonical spelling is accepted (no leading zero groups, no ``.p/256``).
    """
    match = _PATH.fullmatch(path)
    if match is None:
        raise TilePathError(f"{path[:80]!r} is not a tile path")
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = int(match["width"] or WIDTH)
    level = int(match["level"] or 0)
    if level > MAX_LEVEL or (match["width"] and width >= WIDTH):
        raise TilePathError(f"{path[:80]!r} is not a tile path")
    tile = Tile(level, index, width, entries=match["entries"] is not None)
    if tile.path != f"tile/{path}":
        raise TilePathError(f"{path[:80]!r} is not the canonical path of its tile")
    return tile


def _available(level: int, size: int) -> int:
    """How many subtrees of height ``8 * level`` a tree of ``size`` leaves has."""
    return size >> (HEIGHT * level)


def check_within(tile: Tile, size: int) -> None:
    """Raise :class:`TilePathError` unless a tree of ``size`` leaves has this whole tile."""
    if tile.end > _available(tile.level, size):
        raise TilePathError(f"{tile.path} lies beyond the tree of size {size}")


def tile_of(level: int, index: int, size: int, *, entries: bool = False) -> Tile:
    """The tile at (level, index) as the tree of ``size`` leaves has it: full, or as wide
    as the tree is (an empty tile does not exist)."""
    width = min(WIDTH, _available(level, size) - index * WIDTH)
    if width < 1:
        raise TilePathError(f"tile {level}/{index} lies beyond the tree of size {size}")
    return Tile(level, index, width, entries)


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry prefixed by its length, a big-endian uint16."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY:
            raise UnsupportedError(
                f"a log entry of {len(entry)} bytes does not fit a tlog-tiles bundle",
                code="entry_too_long",
            )
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; ProofError when it does not parse to the end."""
    entries, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise ProofError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise ProofError("entry bundle ends inside an entry")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries


def decode_hashes(tile: Tile, data: bytes) -> list[bytes]:
    """The hashes of a fetched hash tile, which must be exactly ``width`` hashes long."""
    if len(data) != tile.width * HASH_SIZE:
        raise ProofError(f"{tile.path} is {len(data)} bytes, want {tile.width * HASH_SIZE}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def hash_of(node: NodeID, size: int, fetch: Callable[[Tile], Sequence[bytes]]) -> bytes:
    """The hash of a perfect subtree of the tree of ``size``, from the one tile holding it.

    A node of height ``h`` is the root of the ``2 ** (h % 8)`` consecutive hashes of the
    level-``h // 8`` tile below it; ``fetch`` gives a tile's hashes (checked by
    :func:`decode_hashes`).
    """
    level, height = divmod(node.level, HEIGHT)
    first = node.index << height
    tile = tile_of(level, first // WIDTH, size)
    offset = first % WIDTH
    run = list(fetch(tile)[offset : offset + (1 << height)])
    if len(run) != 1 << height:
        raise ProofError(f"{tile.path} does not hold node {node}")
    while len(run) > 1:
        run = [node_hash(run[i], run[i + 1]) for i in range(0, len(run), 2)]
    return run[0]


def proof_from_tiles(
    plan: ProofNodes, size: int, fetch: Callable[[Tile], Sequence[bytes]]
) -> list[bytes]:
    """A proof (inclusion or consistency, as ``plan`` from :mod:`merkle` says) in the tree
    of ``size``, its node hashes read from tiles."""
    return plan.rehash([hash_of(node, size, fetch) for node in plan.ids])
