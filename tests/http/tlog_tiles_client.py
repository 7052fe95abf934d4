"""A tlog-tiles reader written from the C2SP text alone (https://c2sp.org/tlog-tiles),
sharing no code with the gateway: its own path encoding, its own RFC 6962 hashing.

    tile/<L>/<N>[.p/<W>]: <N> in zero-padded 3-digit path elements, all but the last
    prefixed "x"; the n-th tile at level l lists MTH(D[(n*256+i)*256**l : (n*256+i+1)*256**l]),
    i from 0 to 255; the partial tile at level l of a tree of size s has
    floor(s / 256**l) mod 256 entries; entry bundles are big-endian uint16
    length-prefixed entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def tile_index(n: int) -> str:
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + groups[-1:])


def tile_path(level: int | str, n: int, width: int = 256) -> str:
    return f"tile/{level}/{tile_index(n)}" + ("" if width == 256 else f".p/{width}")


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def interior(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH over hashes taken as the leaves' hashes (split at the largest power
    of two smaller than n)."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return interior(mth(hashes[:k]), mth(hashes[k:]))


def bundle_entries(data: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        n = int.from_bytes(data[at : at + 2], "big")
        out.append(data[at + 2 : at + 2 + n])
        at += 2 + n
    assert at == len(data)
    return out


def split(data: bytes) -> list[bytes]:
    assert len(data) % 32 == 0
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def tree_root(size: int, get: Callable[[str], bytes]) -> bytes:
    """The root of the tree of `size` from its tiles. The tree is the perfect subtrees of
    its size's binary decomposition, largest first; one of 2**k leaves is the MTH of
    2**(k mod 8) consecutive hashes of a level-(k div 8) tile, the tile being as wide as
    floor(size / 256**l) says (full, or the partial one)."""
    subtrees: list[bytes] = []
    start = 0
    for k in reversed(range(size.bit_length())):
        if not size >> k & 1:
            continue
        level, height = divmod(k, 8)
        first = start // 256**level  # index of the subtree's first hash at that level
        n = first // 256
        width = min(256, size // 256**level - n * 256)
        hashes = split(get(tile_path(level, n, width)))
        assert len(hashes) == width
        subtrees.append(mth(hashes[first % 256 : first % 256 + 2**height]))
        start += 2**k
    root = subtrees[-1]
    for h in reversed(subtrees[:-1]):
        root = interior(h, root)
    return root
