"""The members' side of the validity log (:mod:`ledger_gw.audit.fabric_validity`): each
member computes the tree from the blocks its own peer committed and signs it with its
witness key; a bundle's builder collects the statements and merges those that agree.

Where the signatures come from: a :class:`PeerAttester` per member, holding that
member's witness key and reading through that member's peer. The gateway builds them
from its Fabric profile's ``validity_keys`` (organisation → its witness key file),
for the members whose keys live with it; a member whose key is elsewhere answers
through any :class:`Attester` that reaches it. The statements are only as good as
the quorum: the verifier counts signatures by the pinned consortium's witness keys,
so a gateway holding fewer keys than the quorum builds bundles that do not verify.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ledger_gw import protos as pb
from ledger_gw.audit.fabric_blocks import block_data_hash, block_header_hash
from ledger_gw.audit.fabric_validity import ValidityTree, block_leaves
from ledger_gw.errors import ConfigError, IntegrityError, LedgerError
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.log.checkpoint import (
    CheckpointError,
    cosign_statement,
    merge_statements,
    parse_signer,
)
from ledger_gw.log.note import Note, NoteError, NoteSigner

_log = logging.getLogger(__name__)


class Attester(Protocol):
    """A member that states, signed, the validity log of the channel at a height."""

    org_id: str

    def statement(self, height: int) -> str: ...


@dataclass
class PeerTree:
    """The validity log as ``org_id``'s peer committed it (blocks never change: each
    block's leaves are read once)."""

    ledger: FabricLedger
    org_id: str
    _leaves: dict[int, list[bytes]] = field(default_factory=dict)
    _hashes: dict[int, bytes] = field(default_factory=dict)

    def tree(self, height: int) -> ValidityTree:
        """Blocks 0 to ``height - 1``, checked to chain, as a tree (the genesis block,
        which the auditor pins, states nothing)."""
        for number in range(height):
            if number in self._leaves:
                continue
            raw = self.ledger.block(number, self.org_id)
            block = pb.common.Block.FromString(raw)
            if block.header.data_hash != block_data_hash(block.data.data):
                raise IntegrityError(f"block {number}'s data does not match its header")
            if number and block.header.previous_hash != self._hash(number - 1):
                raise IntegrityError(f"block {number} does not chain to block {number - 1}")
            self._hashes[number] = block_header_hash(block.header)
            self._leaves[number] = block_leaves(raw) if number else []
        return ValidityTree(self._hash(0), [self._leaves[n] for n in range(height)])

    def _hash(self, number: int) -> bytes:
        if number not in self._hashes:
            self.tree(number + 1)
        return self._hashes[number]


@dataclass
class PeerAttester:
    """A member signing the tree its own peer committed, with its witness key."""

    ledger: FabricLedger
    org_id: str
    signer: NoteSigner
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._tree = PeerTree(self.ledger, self.org_id)

    def statement(self, height: int) -> str:
        cp = self._tree.tree(height).checkpoint()
        return cosign_statement(cp, self.signer, int(self.clock()))


def profile_attesters(ledger: FabricLedger) -> list[Attester]:
    """The members whose witness keys the profile lists, each through its own peer."""
    out: list[Attester] = []
    for org_id, path in ledger.profile.validity_keys.items():
        try:
            signer = parse_signer(path.read_bytes())
        except (OSError, CheckpointError) as exc:
            raise ConfigError(f"cannot read {org_id}'s witness key {path}: {exc}") from exc
        out.append(PeerAttester(ledger, org_id, signer))
    return out


def attest(attesters: Sequence[Attester], height: int) -> str | None:
    """The statements of every member that answers, merged: those about the checkpoint
    most of them signed (a member that states another is logged, not counted); None
    when no member answers."""
    by_text: dict[str, list[str]] = {}
    for attester in attesters:
        try:
            note = attester.statement(height)
            by_text.setdefault(Note.parse(note).text, []).append(note)
        except (LedgerError, NoteError) as exc:
            _log.warning("%s states no validity at height %d: %s", attester.org_id, height, exc)
    if not by_text:
        return None
    agreed = max(by_text.values(), key=len)
    if len(by_text) > 1:
        _log.error(
            "members' peers disagree on the validity of the channel at height %d: "
            "%d statements of %d differ from the most signed",
            height,
            sum(len(v) for v in by_text.values()) - len(agreed),
            sum(len(v) for v in by_text.values()),
        )
    return merge_statements(agreed)
