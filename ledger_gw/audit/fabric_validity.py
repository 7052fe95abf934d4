"""Which Fabric transactions are valid, as the members' own peers say and sign.

A block's validation codes (its TRANSACTIONS_FILTER metadata) are written by each
peer after the orderers signed the block: neither the block's data hash nor the
orderers' signature covers them, so a code read from a bundle's block proves
nothing. What proves it is the members: Fabric peers validate every block
independently and deterministically, so honest members' peers agree on each code.

The channel's *validity log* is an RFC 6962 Merkle tree (:mod:`ledger_gw.log.merkle`)
with one leaf per transaction of every block, in order: a canonical statement of the
block number, the transaction's index and ID, its validation code and the block's
header hash. Each member computes the tree from blocks its own peer committed and
signs its checkpoint (C2SP tlog-checkpoint, origin ``fabric-validity/<genesis hash>``)
with its witness key as a cosignature/v1
(:func:`ledger_gw.log.checkpoint.cosign_statement`); the statements are merged into
one note. There is no log key:
the members' quorum is the only signer.

A bundle carries the note and, per event, the leaf's index and its inclusion proof.
The verifier recomputes the leaf from the block it holds (so a flipped validation
code is another leaf, and its proof fails) and opens the note with the witness keys
and quorum of the consortium the auditor pinned, never with keys from the bundle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaincode.canonical import canonical_json
from ledger_gw import protos as pb
from ledger_gw.audit.evidence import b64, unb64
from ledger_gw.audit.fabric_blocks import block_data_hash, block_header_hash
from ledger_gw.audit.model import Failure
from ledger_gw.audit.validity_origin import validity_origin
from ledger_gw.consortium import Consortium
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.merkle import (
    ProofError,
    ProofNodes,
    consistency_nodes,
    inclusion_nodes,
    leaf_hash,
    node_hash,
    root_of,
    verify_inclusion,
)
from ledger_gw.log.note import NoteError

TRANSACTIONS_FILTER = 2  # common.BlockMetadataIndex
NOT_VALIDATED = 254  # peer.TxValidationCode, for a block that carries no codes (genesis)


def _tx_id(raw: bytes) -> str:
    payload = pb.common.Payload.FromString(pb.common.Envelope.FromString(raw).payload)
    return str(pb.common.ChannelHeader.FromString(payload.header.channel_header).tx_id)


def validation_codes(block: Any) -> bytes:
    """The block's TRANSACTIONS_FILTER, one code per transaction (empty when absent)."""
    metadata = block.metadata.metadata
    return bytes(metadata[TRANSACTIONS_FILTER]) if len(metadata) > TRANSACTIONS_FILTER else b""


def statement(block: Any, index: int) -> bytes:
    """The leaf of the block's ``index``-th transaction, with the code the block carries."""
    codes = validation_codes(block)
    return canonical_json(
        {
            "block": int(block.header.number),
            "index": index,
            "tx_id": _tx_id(block.data.data[index]),
            "code": codes[index] if index < len(codes) else NOT_VALIDATED,
            "header": block_header_hash(block.header).hex(),
        }
    )


def statement_of(raw: bytes, tx_id: str) -> tuple[int, bytes]:
    """The index in its block of the transaction ``tx_id`` and its leaf, recomputed from
    the block (whose data must match its header, so the leaf's header hash binds the
    transaction's content); ValueError when the block does not hold it."""
    block = pb.common.Block.FromString(raw)
    if block.header.data_hash != block_data_hash(block.data.data):
        raise ValueError("the block's data does not match its header")
    for index, data in enumerate(block.data.data):
        if _tx_id(data) == tx_id:
            return index, statement(block, index)
    raise ValueError(f"the block does not hold {tx_id}")


def block_leaves(raw: bytes) -> list[bytes]:
    """The leaf hashes of one whole block's transactions."""
    block = pb.common.Block.FromString(raw)
    return [leaf_hash(statement(block, i)) for i in range(len(block.data.data))]


TILE_LEVEL = 8  # a tile: the 256 leaves under one node of the tree


@dataclass
class ValidityTree:
    """The validity log of blocks 0 to ``height - 1`` (each block's leaf hashes), and,
    where its keeper has them, the roots of its whole tiles in order (``2**tile_level``
    leaves each): a proof's nodes above a tile then hash tile roots, not every leaf."""

    genesis_hash: bytes
    blocks: list[list[bytes]]
    tiles: Sequence[bytes] = ()
    tile_level: int = TILE_LEVEL

    @property
    def height(self) -> int:
        return len(self.blocks)

    def leaves(self) -> list[bytes]:
        return [h for block in self.blocks for h in block]

    def first_leaf(self, block: int) -> int:
        return sum(len(b) for b in self.blocks[:block])

    def checkpoint(self) -> ckpt.Checkpoint:
        leaves = self.leaves()
        root = self._root(leaves, 0, len(leaves))
        return ckpt.Checkpoint(validity_origin(self.genesis_hash), len(leaves), root)

    def proof(self, leaf: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of ``leaf`` in the whole tree."""
        leaves = self.leaves()
        return self._hashes(leaves, inclusion_nodes(leaf, len(leaves)))

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 proof that the tree of ``size1`` leaves is a prefix of the tree of
        ``size2`` (each no larger than this one): blocks once cut never change, so the
        members' validity log only grows, and a watcher shown another history sees it."""
        leaves = self.leaves()
        if not 0 < size1 <= size2 <= len(leaves):
            raise ValueError(f"no proof from {size1} to {size2} leaves in {len(leaves)}")
        return self._hashes(leaves[:size2], consistency_nodes(size1, size2))

    def _hashes(self, leaves: Sequence[bytes], nodes: ProofNodes) -> list[bytes]:
        return nodes.rehash([self._root(leaves, n.begin, 1 << n.level) for n in nodes.ids])

    def _root(self, leaves: Sequence[bytes], begin: int, size: int) -> bytes:
        """The root of ``leaves[begin : begin + size]`` (RFC 9162's MTH), from whole
        tiles' roots wherever it covers them."""
        size = min(size, len(leaves) - begin)
        tile = 1 << self.tile_level
        if size <= tile or begin % tile or (begin + size) // tile > len(self.tiles):
            return root_of(leaves[begin : begin + size])
        if size & (size - 1) == 0:  # a whole subtree, so whole tiles
            return root_of(self.tiles[begin // tile : (begin + size) // tile])
        left = 1 << ((size - 1).bit_length() - 1)
        return node_hash(
            self._root(leaves, begin, left), self._root(leaves, begin + left, size - left)
        )


def validity_evidence(
    note: str, tree: ValidityTree, positions: Sequence[tuple[str, int, int]]
) -> dict[str, Any]:
    """The bundle's ``validity`` object: the members' note, and per (tx ID, block,
    index in the block) the leaf's index in the tree and its inclusion proof."""
    entries = []
    for tx_id, block, index in positions:
        leaf = tree.first_leaf(block) + index
        entries.append({"tx_id": tx_id, "leaf": leaf, "proof": [b64(h) for h in tree.proof(leaf)]})
    return {"checkpoint": note, "entries": entries}


@dataclass
class Attestation:
    """The members' verified checkpoint, and per transaction ID its leaf and proof."""

    checkpoint: ckpt.Checkpoint | None
    witnesses: tuple[str, ...]
    proofs: dict[str, tuple[int, list[bytes]]]
    failure: Failure | None = None


def open_validity(
    raw: object, consortium: Consortium, genesis_hash: bytes, quorum: int = 0
) -> Attestation:
    """The bundle's ``validity`` object opened with the pinned consortium's witness keys,
    cosigned by its quorum or the auditor's ``quorum`` if higher; ``failure`` says why it
    attests nothing."""

    def refused(message: str) -> Attestation:
        return Attestation(None, (), {}, Failure("validity_not_attested", message))

    if raw is None:
        return refused(
            "the bundle carries no statement of validity signed by the members: a block's "
            "validation codes alone are unsigned"
        )
    if not isinstance(raw, Mapping) or not isinstance(raw.get("entries"), list):
        return refused("evidence.validity must be {checkpoint, entries}")
    note = raw.get("checkpoint")
    witnesses = consortium.witness_verifiers()
    try:
        opened = ckpt.open_statement(
            note if isinstance(note, str) else "",
            witnesses,
            max(quorum, consortium.witness_quorum),
            origin=validity_origin(genesis_hash),
        )
    except (NoteError, ValueError) as exc:
        return refused(f"the members' statement of validity does not verify: {exc}")
    proofs: dict[str, tuple[int, list[bytes]]] = {}
    for entry in raw["entries"]:
        try:
            leaf, proof = entry["leaf"], [unb64(h) for h in entry["proof"]]
            if not isinstance(leaf, int) or not isinstance(entry["tx_id"], str):
                raise TypeError("a leaf index and a transaction ID")
        except (KeyError, TypeError, ValueError) as exc:
            return refused(f"a validity entry is malformed: {exc}")
        proofs[entry["tx_id"]] = (leaf, proof)
    return Attestation(opened.checkpoint, opened.witnesses, proofs)


def check_validity(
    attestation: Attestation, block: Any, index: int, position: int
) -> Failure | None:
    """Whether the members' tree holds this transaction with the code its block carries
    (a failure when not; the attestation must have opened)."""
    if attestation.checkpoint is None:
        raise ValueError("the members' statement did not open")
    tx_id = _tx_id(block.data.data[index])
    if tx_id not in attestation.proofs:
        return Failure(
            "validity_not_attested",
            f"the bundle carries no statement of validity for {tx_id}",
            position,
        )
    leaf, proof = attestation.proofs[tx_id]
    cp = attestation.checkpoint
    try:
        verify_inclusion(leaf_hash(statement(block, index)), leaf, cp.size, proof, cp.root_hash)
    except (ProofError, ValueError) as exc:
        return Failure(
            "validity_mismatch",
            f"the members did not state {tx_id} with the validation code its block carries "
            f"({validation_codes(block)[index : index + 1].hex() or 'none'}): {exc}",
            position,
        )
    return None
