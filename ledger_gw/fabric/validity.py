"""The members' side of the validity log (:mod:`ledger_gw.audit.fabric_validity`): each
member computes the tree from the blocks its own peer committed and signs it with its
witness key; a bundle's builder collects the statements and merges those that agree.

Where the signatures come from: a :class:`PeerAttester` per member whose witness key
lives with this gateway (its Fabric profile's ``validity_keys``: organisation → its
witness key file), reading through that member's own peer; and an :class:`HttpAttester`
per member whose gateway runs elsewhere (``validity_urls``), asking it over HTTP for
what it signed at a height (``GET /v1/validity/<height>``). A statement is counted
only when it states the tree the builder's own peer committed; one that states
another is left out and logged. The statements are only as good as the quorum: the
verifier counts signatures by the pinned consortium's witness keys, so a bundle
carrying fewer than the quorum does not verify.

Blocks never change once cut, so each process reads a block's leaves once per peer
(:func:`peer_tree`) and the next bundle reads only the blocks cut since.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ledger_gw import outbound
from ledger_gw import protos as pb
from ledger_gw.audit.fabric_blocks import block_data_hash, block_header_hash
from ledger_gw.audit.fabric_validity import (
    TILE_LEVEL,
    ValidityTree,
    block_leaves,
)
from ledger_gw.audit.validity_origin import validity_origin
from ledger_gw.errors import ConfigError, IntegrityError, LedgerError, UnavailableError
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.log.checkpoint import (
    Checkpoint,
    CheckpointError,
    cosign_statement,
    merge_statements,
    parse_signer,
)
from ledger_gw.log.merkle import EMPTY_ROOT, CompactRange
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
    # The tree's leaves and root at each height read: a statement is asked for by any
    # member, unauthenticated, and hashing every leaf again for each would cost it the
    # whole channel's history.
    _roots: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    _range: CompactRange = field(default_factory=CompactRange)
    # The roots of the whole tiles read so far (nodes the range completes as it grows):
    # a proof then hashes a few thousand nodes at a million leaves, not all of them.
    _tiles: list[bytes] = field(default_factory=list)
    tile_level: int = TILE_LEVEL
    _lock: threading.Lock = field(default_factory=threading.Lock)
    blocks_read: int = 0

    def tree(self, height: int) -> ValidityTree:
        """Blocks 0 to ``height - 1``, checked to chain, as a tree (the genesis block,
        which the auditor pins, states nothing)."""
        with self._lock:
            self._read(max(height, 1))
            size = self._roots[height][0] if height else 0
            return ValidityTree(
                self._hashes[0],
                [self._leaves[n] for n in range(height)],
                self._tiles[: size >> self.tile_level],
                self.tile_level,
            )

    def checkpoint(self, height: int) -> Checkpoint:
        """What ``tree(height).checkpoint()`` is, from the roots kept as blocks were read."""
        with self._lock:
            self._read(max(height, 1))  # the genesis block names the log
            size, root = self._roots.get(height, (0, EMPTY_ROOT))
            return Checkpoint(validity_origin(self._hashes[0]), size, root)

    def _read(self, height: int) -> None:
        for number in range(height):
            if number in self._leaves:
                continue
            raw = self.ledger.block(number, self.org_id)
            self.blocks_read += 1
            block = pb.common.Block.FromString(raw)
            if block.header.data_hash != block_data_hash(block.data.data):
                raise IntegrityError(f"block {number}'s data does not match its header")
            if number and block.header.previous_hash != self._hashes[number - 1]:
                raise IntegrityError(f"block {number} does not chain to block {number - 1}")
            self._hashes[number] = block_header_hash(block.header)
            self._leaves[number] = block_leaves(raw) if number else []
            for leaf in self._leaves[number]:  # blocks are read in order, from the first
                for node, node_hash in self._range.append(leaf):
                    if node.level == self.tile_level:
                        self._tiles.append(node_hash)
            self._roots[number + 1] = (self._range.size, self._range.root())


_trees: weakref.WeakKeyDictionary[FabricLedger, dict[str, PeerTree]] = weakref.WeakKeyDictionary()
_trees_lock = threading.Lock()


def peer_tree(ledger: FabricLedger, org_id: str) -> PeerTree:
    """The one tree this process keeps of ``org_id``'s peer through ``ledger``."""
    with _trees_lock:
        return _trees.setdefault(ledger, {}).setdefault(org_id, PeerTree(ledger, org_id))


@dataclass
class PeerAttester:
    """A member signing the tree its own peer committed, with its witness key."""

    ledger: FabricLedger
    org_id: str
    signer: NoteSigner
    clock: Callable[[], float] = time.time

    def statement(self, height: int) -> str:
        cp = peer_tree(self.ledger, self.org_id).checkpoint(height)
        return cosign_statement(cp, self.signer, int(self.clock()))


MAX_STATEMENT = 64 * 1024
TIMEOUT_S = 30.0


@dataclass
class HttpAttester:
    """A member whose gateway runs elsewhere, asked for what it signed at a height."""

    org_id: str
    url: str
    timeout: float = TIMEOUT_S

    def statement(self, height: int) -> str:
        request = urllib.request.Request(f"{self.url}/v1/validity/{height}")  # noqa: S310
        try:
            with outbound.urlopen(request, timeout=self.timeout) as reply:
                body = reply.read(MAX_STATEMENT + 1)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise UnavailableError(f"{self.url} did not answer: {exc}") from exc
        if len(body) > MAX_STATEMENT:
            raise UnavailableError(f"{self.url} answered more than a statement")
        try:
            note = json.loads(body)["statement"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UnavailableError(f"{self.url} answered no statement: {exc}") from exc
        if not isinstance(note, str):
            raise UnavailableError(f"{self.url} answered no statement")
        return note


def own_attesters(ledger: FabricLedger) -> list[PeerAttester]:
    """The members whose witness keys the profile lists, each through its own peer."""
    out: list[PeerAttester] = []
    for org_id, path in ledger.profile.validity_keys.items():
        try:
            signer = parse_signer(path.read_bytes())
        except (OSError, CheckpointError) as exc:
            raise ConfigError(f"cannot read {org_id}'s witness key {path}: {exc}") from exc
        out.append(PeerAttester(ledger, org_id, signer))
    return out


def profile_attesters(ledger: FabricLedger) -> list[Attester]:
    """The members this gateway signs for, then the others the profile says where to ask."""
    own: list[Attester] = list(own_attesters(ledger))
    held = set(ledger.profile.validity_keys)
    return own + [
        HttpAttester(org_id, url)
        for org_id, url in ledger.profile.validity_urls.items()
        if org_id not in held
    ]


def attest(attesters: Sequence[Attester], height: int, expected: str) -> str | None:
    """The statements of the members that state ``expected`` (the checkpoint text the
    builder's own peer committed), merged; a member that states another, or none, is
    logged and left out. None when no member agrees."""
    agreed: list[str] = []
    for attester in attesters:
        try:
            note = attester.statement(height)
            text = Note.parse(note).text
        except (LedgerError, NoteError) as exc:
            _log.warning("%s states no validity at height %d: %s", attester.org_id, height, exc)
            continue
        if text != expected:
            _log.error(
                "%s states another validity log at height %d than this peer committed: "
                "left out (%r, not %r)",
                attester.org_id,
                height,
                text,
                expected,
            )
            continue
        agreed.append(note)
    return merge_statements(agreed) if agreed else None
