"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and compact ranges.

Pure functions on hashes: nothing here touches storage. The storage layer keeps
the hash of every *perfect* subtree (a :class:`NodeID`) and this module tells it

* which nodes to persist when leaves are appended (:meth:`CompactRange.append`),
* which nodes to fetch to reload the append frontier (:meth:`CompactRange.border_ids`),
* which nodes to fetch for a proof (:func:`inclusion_nodes`, :func:`consistency_nodes`),
  and how to fold the fetched hashes into the proof (:meth:`ProofNodes.rehash`).

Verification (:func:`verify_inclusion`, :func:`verify_consistency`) follows the
algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2, independently of the
generator, and is strict: every hash must be 32 bytes, proofs must have exactly
the expected length, and any mismatch raises :class:`ProofError`.

Terminology: a tree of ``size`` leaves; ``NodeID(level, index)`` is the perfect
subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger_gw.errors import EvidenceError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "NodeID",
    "ProofError",
    "ProofNodes",
    "consistency_nodes",
    "inclusion_nodes",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256

#: MTH({}) = SHA-256() -- RFC 6962 section 2.1.
EMPTY_ROOT: bytes = _sha256(b"").digest()


class ProofError(EvidenceError):
    """A proof, hash or root failed verification."""

    code = "invalid_proof"


def leaf_hash(data: bytes) -> bytes:
    """MTH({d(0)}) = SHA-256(0x00 || d(0)) -- RFC 6962 section 2.1."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node hash SHA-256(0x01 || left || right) -- RFC 6962 section 2.1."""
    return _sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True, slots=True, order=True)
class NodeID:
    """A perfect subtree: leaves ``[index * 2**level, (index + 1) * 2**level)``."""

    level: int
    index: int

    @property
    def begin(self) -> int:
        """First leaf covered (inclusive)."""
        return self.index << self.level

    @property
    def end(self) -> int:
        """Last leaf covered plus one (exclusive)."""
        return (self.index + 1) << self.level


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """The perfect subtrees covering leaves ``[begin, end)``, left to right.

    This is the minimal decomposition of a range into aligned perfect subtrees
    (a "compact range"): sizes first grow, then shrink.
    """
    _check_size("begin", begin)
    _check_size("end", end)
    if begin > end:
        raise ValueError(f"range begin {begin} > end {end}")
    out: list[NodeID] = []
    while begin < end:
        # Largest aligned block starting at `begin` that still fits in the range.
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        out.append(NodeID(level, begin >> level))
        begin += 1 << level
    return out


def _hash_run(hashes: Sequence[bytes]) -> bytes:
    """Root of a run of perfect subtrees listed left to right (right-to-left fold)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


@dataclass(frozen=True, slots=True)
class ProofNodes:
    """Node IDs to fetch for a proof, and how to turn their hashes into the proof.

    ``ids`` are all perfect subtrees within the tree. The nodes ``ids[begin:end]``
    (if ``end - begin > 1``) are the perfect pieces of one ephemeral right-border
    node (RFC 9162's "MTH(D[k:n])" that is not a perfect subtree); :meth:`rehash`
    folds them into that single proof entry.
    """

    ids: list[NodeID]
    begin: int = 0
    end: int = 0

    def rehash(self, hashes: Sequence[bytes]) -> list[bytes]:
        """Turn the fetched hashes (one per ID in ``ids`` order) into the proof."""
        if len(hashes) != len(self.ids):
            raise ValueError(f"got {len(hashes)} hashes for {len(self.ids)} proof node IDs")
        if self.end - self.begin <= 1:
            return list(hashes)
        return [
            *hashes[: self.begin],
            _hash_run(hashes[self.begin : self.end]),
            *hashes[self.end :],
        ]


def _node_path(level: int, index: int, size: int) -> ProofNodes:
    """Inclusion path of perfect node (level, index) in a tree of ``size`` leaves.

    Bottom-up, as in RFC 9162 section 2.1.3.1 (PATH). Preconditions: the node
    is a perfect subtree strictly inside ``[0, size)``.
    """
    last = (size - 1) >> level  # node at `level` holding the last leaf
    inner = (index ^ last).bit_length()  # levels below the paths' fork
    ids: list[NodeID] = []
    begin = end = 0
    # Below the fork: plain siblings, all perfect (they lie left of the last leaf's subtree).
    for k in range(inner - 1):
        ids.append(NodeID(level + k, (index >> k) ^ 1))
    if inner:
        # At the fork, the right sibling holds the last leaf: possibly not perfect.
        top = inner - 1
        start = ((index >> top) | 1) << (level + top)
        begin = len(ids)
        ids.extend(range_nodes(start, size))
        end = len(ids)
    # Above the fork: only left siblings exist (a lone right child is promoted).
    node = index >> inner
    lvl = level + inner
    while node:
        if node & 1:
            ids.append(NodeID(lvl, node - 1))
        node >>= 1
        lvl += 1
    return ProofNodes(ids, begin, end)


def inclusion_nodes(index: int, size: int) -> ProofNodes:
    """Node IDs for the inclusion proof of leaf ``index`` in a tree of ``size``.

    RFC 9162 section 2.1.3.1. Raises ValueError unless ``0 <= index < size``.
    """
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ValueError(f"leaf index {index} out of range for tree size {size}")
    return _node_path(0, index, size)


def consistency_nodes(size1: int, size2: int) -> ProofNodes:
    """Node IDs for the consistency proof between tree sizes ``size1`` and ``size2``.

    RFC 9162 section 2.1.4.1 (SUBPROOF): the proof is the inclusion path, in the
    tree of ``size2``, of the rightmost perfect subtree of the tree of ``size1``,
    preceded by that subtree itself unless ``size1`` is a power of two (then it is
    the whole old tree, whose root the verifier already has).

    Raises ValueError unless ``0 < size1 <= size2``; a proof from the empty tree
    is meaningless. ``size1 == size2`` gives an empty proof.
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise ValueError(f"size1 {size1} > size2 {size2}")
    if size1 == 0:
        raise ValueError("consistency proof from the empty tree is meaningless")
    if size1 == size2:
        return ProofNodes([])
    level = (size1 & -size1).bit_length() - 1
    index = (size1 >> level) - 1
    path = _node_path(level, index, size2)
    if index == 0:  # size1 is a power of two
        return path
    shift = 1 if path.end > path.begin else 0
    return ProofNodes([NodeID(level, index), *path.ids], path.begin + shift, path.end + shift)


# ---------------------------------------------------------------------------
# Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2)
# ---------------------------------------------------------------------------


def _check_hash(what: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {got}")


def _check_proof(proof: Sequence[bytes], want: int) -> None:
    if len(proof) != want:
        raise ProofError(f"wrong proof length: got {len(proof)} hashes, want {want}")
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)


def _inclusion_proof_len(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _check_sizes(index_name: str, index: int, size_name: str, size: int) -> None:
    for name, value in ((index_name, index), (size_name, size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProofError(f"{name} must be a non-negative int, got {value!r}")


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Recompute the tree root from an inclusion proof (RFC 9162 section 2.1.3.2).

    Preconditions checked (ProofError otherwise): ``0 <= index < size``,
    ``leaf_hash`` and every proof entry are 32 bytes, and the proof has exactly
    the length the RFC 9162 PATH for (index, size) has.
    The returned root is only meaningful once compared with a trusted root.
    """
    _check_sizes("index", index, "size", size)
    if index >= size:
        raise ProofError(f"leaf index {index} out of range for tree size {size}")
    _check_hash("leaf hash", leaf_hash)
    _check_proof(proof, _inclusion_proof_len(index, size))
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:  # step 4a; unreachable given the length check, kept as a guard
            raise ProofError("inclusion proof longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 5
        raise ProofError("inclusion proof shorter than the path to the root")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 section 2.1.3.2; preconditions as :func:`root_from_inclusion_proof`,
    plus ``root`` is 32 bytes. Raises :class:`ProofError` on any mismatch.
    """
    _check_hash("root", root)
    got = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if got != root:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree size {size} gives root "
            f"{got.hex()}, want {bytes(root).hex()}"
        )


def _consistency_proof_len(size1: int, size2: int) -> int:
    level = (size1 & -size1).bit_length() - 1
    index = (size1 >> level) - 1
    inner = (index ^ ((size2 - 1) >> level)).bit_length()
    return (0 if index == 0 else 1) + inner + (index >> inner).bit_count()


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """Recompute the root of the tree of ``size2`` from a consistency proof.

    RFC 9162 section 2.1.4.2, also checking that the proof reproduces ``root1``.
    Preconditions checked (ProofError otherwise): ``0 < size1 <= size2``; if the
    sizes are equal the proof is empty (and ``root1`` is returned); otherwise the
    proof has exactly the RFC 9162 SUBPROOF length, all hashes are 32 bytes.
    """
    _check_sizes("size1", size1, "size2", size2)
    if size1 > size2:
        raise ProofError(f"size1 {size1} > size2 {size2}")
    if size1 == 0:
        raise ProofError("consistency proof from the empty tree is meaningless")
    _check_hash("root1", root1)
    if size1 == size2:
        if proof:
            raise ProofError(f"sizes are equal ({size1}) but the proof is not empty")
        return bytes(root1)
    _check_proof(proof, _consistency_proof_len(size1, size2))
    path: list[bytes] = list(proof)
    if size1 & (size1 - 1) == 0:  # step 2: size1 is a power of two
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError("consistency proof longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError("consistency proof shorter than the path to the root")
    if fr != root1:
        raise ProofError(
            f"consistency proof {size1}->{size2} gives old root {fr.hex()}, "
            f"want {bytes(root1).hex()}"
        )
    return sr


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size2, root2) extends the tree (size1, root1).

    RFC 9162 section 2.1.4.2; preconditions as :func:`root_from_consistency_proof`
    plus ``root2`` is 32 bytes. Raises :class:`ProofError` on any mismatch.
    """
    _check_hash("root2", root2)
    got = root_from_consistency_proof(size1, size2, proof, root1)
    if got != root2:
        raise ProofError(
            f"consistency proof {size1}->{size2} gives new root {got.hex()}, "
            f"want {bytes(root2).hex()}"
        )


# ---------------------------------------------------------------------------
# Compact range: the append frontier
# ---------------------------------------------------------------------------


class CompactRange:
    """The perfect subtree roots covering leaves ``[0, size)``, for O(log n) appends.

    ``hashes`` lists those roots left to right (largest first): one per set bit
    of ``size``, in the order of :meth:`border_ids`.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        _check_size("size", size)
        hs = list(hashes)
        if len(hs) != size.bit_count():
            raise ValueError(
                f"compact range of size {size} needs {size.bit_count()} hashes, got {len(hs)}"
            )
        for i, h in enumerate(hs):
            if len(h) != HASH_SIZE:
                raise ValueError(f"hashes[{i}] must be {HASH_SIZE} bytes, got {len(h)}")
        self._size = size
        self._hashes = hs

    @property
    def size(self) -> int:
        """Number of leaves covered."""
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        """Copy of the border hashes, left to right (see :meth:`border_ids`)."""
        return list(self._hashes)

    @staticmethod
    def border_ids(size: int) -> list[NodeID]:
        """IDs of the perfect subtrees whose hashes make up the range ``[0, size)``."""
        _check_size("size", size)
        return [
            NodeID(level, (size >> level) - 1)
            for level in range(size.bit_length() - 1, -1, -1)
            if size >> level & 1
        ]

    def append(self, leaf_hash: bytes) -> list[tuple[NodeID, bytes]]:
        """Append one leaf hash; return every newly completed perfect node.

        The first entry is the leaf itself (level 0), followed by each parent it
        completes, bottom-up. These are exactly the nodes a store must persist.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        index = self._size
        h = leaf_hash
        out = [(NodeID(0, index), h)]
        hashes = self._hashes
        level = 0
        while index & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            index >>= 1
            level += 1
            out.append((NodeID(level, index), h))
        hashes.append(h)
        self._size += 1
        return out

    def root(self) -> bytes:
        """MTH of the leaves ``[0, size)`` (RFC 6962 section 2.1)."""
        if not self._hashes:
            return EMPTY_ROOT
        return _hash_run(self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Reference MTH (RFC 6962 section 2.1), recursive; for tests, not the hot path."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))
