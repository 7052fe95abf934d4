"""A Fabric channel as a :class:`~ledger_gw.interfaces.VerifiableLog`: the blocks,
read through one member's peer (qscc), are the log.

Records are decoded from the blocks themselves, never from contract queries: each
VALID endorser transaction of the chaincode (the block's TRANSACTIONS_FILTER) is one
record, at position ``block x POSITION_STRIDE + index``; the submitting organisation
is the MSP ID of the certificate that signed the envelope. The anchor is the block
height with the head block's header hash, and every read of records checks the
blocks' hash chain up to that head, so a peer cannot hand over another history
without it showing.

Evidence is ``fabric/blocks-v1`` (:mod:`ledger_gw.audit.fabric_evidence`): what the
ordering service signed, and what the members signed about validity. The orderers'
signatures on each block stand for checkpoints, so there is no checkpoint cosigning
on Fabric; but they do not cover the validation codes peers write into each block, so
a bundle also carries the members' signed statements of which transactions their own
peers found valid (:mod:`ledger_gw.fabric.validity`), collected from the attesters
this log is given (by default those of the profile's ``validity_keys``).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from ledger_gw import protos as pb
from ledger_gw.audit.fabric_blocks import (
    VALID,
    block_data_hash,
    block_header_hash,
    compact,
    configs_in_force,
    json_object,
)
from ledger_gw.audit.fabric_evidence import POSITION_STRIDE, fabric_evidence
from ledger_gw.audit.fabric_validity import ValidityTree, statement_of, validity_evidence
from ledger_gw.errors import ConflictError, IntegrityError, NotFoundError
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.validity import (
    Attester,
    PeerAttester,
    attest,
    peer_tree,
    profile_attesters,
)
from ledger_gw.interfaces import Anchor, Pins, Record, Reveal
from ledger_gw.log.checkpoint import merge_statements
from ledger_gw.transaction import format_time

ENDORSER_TRANSACTION = 3  # common.HeaderType
TRANSACTIONS_FILTER = 2  # common.BlockMetadataIndex


def block_records(raw: bytes, chaincode: str) -> list[Record]:
    """The valid endorser transactions of ``chaincode`` in one block, as records."""
    block = pb.common.Block.FromString(raw)
    number = int(block.header.number)
    flags = bytes(block.metadata.metadata[TRANSACTIONS_FILTER]) if number else b""
    out: list[Record] = []
    for index, data in enumerate(block.data.data):
        if index >= len(flags) or flags[index] != VALID:
            continue
        payload = pb.common.Payload.FromString(pb.common.Envelope.FromString(data).payload)
        header = pb.common.ChannelHeader.FromString(payload.header.channel_header)
        if header.type != ENDORSER_TRANSACTION:
            continue
        creator = pb.common.SignatureHeader.FromString(payload.header.signature_header).creator
        tx = pb.transaction.Transaction.FromString(payload.data)
        if len(tx.actions) != 1:
            continue
        cap = pb.transaction.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        prp = pb.proposal_response.ProposalResponsePayload.FromString(
            cap.action.proposal_response_payload
        )
        action = pb.proposal.ChaincodeAction.FromString(prp.extension)
        if action.chaincode_id.name != chaincode:
            continue
        spec = pb.chaincode.ChaincodeInvocationSpec.FromString(
            pb.proposal.ChaincodeProposalPayload.FromString(cap.chaincode_proposal_payload).input
        )
        args = [bytes(a) for a in spec.chaincode_spec.input.args]
        submitted = len(args) == 2 and args[0] == b"submit"
        out.append(
            Record(
                position=number * POSITION_STRIDE + index,
                tx_id=header.tx_id,
                timestamp=format_time(header.timestamp.ToDatetime(tzinfo=dt.UTC)),
                org=pb.identities.SerializedIdentity.FromString(creator).mspid,
                event=json_object(args[1]) if submitted else {},
                result=json_object(bytes(action.response.payload)),
            )
        )
    return out


def _tx_id(raw: bytes) -> str:
    payload = pb.common.Payload.FromString(pb.common.Envelope.FromString(raw).payload)
    return str(pb.common.ChannelHeader.FromString(payload.header.channel_header).tx_id)


def _hex(h: bytes) -> str:
    return h.hex()


class FabricLog:
    """The channel's blocks as read through ``org_id``'s peer (its identity signs qscc)."""

    def __init__(
        self, ledger: FabricLedger, org_id: str, attesters: Sequence[Attester] | None = None
    ) -> None:
        self.ledger = ledger
        self.org_id = org_id
        self.attesters = profile_attesters(ledger) if attesters is None else list(attesters)
        self._records: dict[int, list[Record]] = {}  # blocks never change once cut
        self._validity = peer_tree(ledger, org_id)

    @property
    def channel(self) -> str:
        return self.ledger.profile.channel

    def _block(self, number: int) -> Any:
        return pb.common.Block.FromString(self.ledger.block(number, self.org_id))

    def size(self) -> int:
        return self.ledger.height(self.org_id)

    def _height(self, size: int | None) -> int:
        height = self.size()
        if size is None:
            return height
        if not 0 < size <= height:
            raise NotFoundError(f"height {size} is outside 1..{height}", code="not_found")
        return size

    def anchor(self, size: int | None = None) -> Anchor:
        """The height and the header hash of the block below it."""
        height = self._height(size)
        head = self._block(height - 1)
        summary = {
            "channel": self.channel,
            "height": height,
            "head_hash": _hex(block_header_hash(head.header)),
        }
        return Anchor(height, summary)

    def records(self, anchor: Anchor, since: Anchor | None = None) -> Iterator[Record]:
        """Every valid record below the anchor (in the blocks from ``since``'s height
        when given); the blocks must chain to its head hash (and from ``since``'s)."""
        first = 0 if since is None else since.size
        if first > anchor.size:
            raise IntegrityError(f"height {first} is beyond height {anchor.size}")
        previous = b"" if since is None else bytes.fromhex(since.summary["head_hash"])
        for number in range(first, anchor.size):
            raw = self.ledger.block(number, self.org_id)
            block = pb.common.Block.FromString(raw)
            if int(block.header.number) != number or (
                number and block.header.previous_hash != previous
            ):
                raise IntegrityError(f"block {number} does not chain to block {number - 1}")
            if block.header.data_hash != block_data_hash(block.data.data):
                raise IntegrityError(f"block {number}'s data does not match its header")
            previous = block_header_hash(block.header)
            if number not in self._records:
                self._records[number] = block_records(raw, self.ledger.profile.chaincode)
            yield from self._records[number]
        if _hex(previous) != anchor.summary["head_hash"]:
            raise IntegrityError("the peer's blocks do not lead to the anchored head")

    def claim_records(self, anchor: Anchor, kind: str, subject: str) -> list[Record]:
        """Every record: a peer finds a block by transaction ID, but not the blocks of a
        person's transactions, so a claim's selection scans the channel (each block is
        decoded once per process and kept)."""
        return list(self.records(anchor))

    def evidence(self, records: Sequence[Record], anchor: Anchor) -> dict[str, Any]:
        """``fabric/blocks-v1``: the genesis block, the configuration blocks in force at
        the first record's block (found through LAST_CONFIG), the blocks that hold the
        records, and between and after them, up to the anchor's head, each block's header
        and orderer signatures only (whole when it changes the channel's configuration);
        with the policy the chaincode was committed with."""
        if not records:
            raise NotFoundError("no transaction to prove", code="not_found")
        numbers = [r.position // POSITION_STRIDE for r in records]
        start = min(numbers)
        profile = self.ledger.profile
        return fabric_evidence(
            channel=profile.channel,
            chaincode=profile.chaincode,
            genesis=self.ledger.block(0, self.org_id),
            configs=configs_in_force(lambda n: self.ledger.block(n, self.org_id), start),
            blocks=[
                raw if n in numbers else compact(raw)
                for n, raw in (
                    (n, self.ledger.block(n, self.org_id)) for n in range(start, anchor.size)
                )
            ],
            entries=[(r.tx_id, n) for r, n in zip(records, numbers, strict=True)],
            policy=profile.policy,
            validity=self._validity_evidence(records, anchor.size),
        )

    def _validity_evidence(self, records: Sequence[Record], height: int) -> dict[str, Any] | None:
        """The statements of the members that state this peer's tree at ``height``, with
        its proofs; None when none does."""
        note = attest(self.attesters, height, self._validity.checkpoint(height).text())
        if note is None:
            return None
        tree = self._validity.tree(height)
        positions = [divmod(r.position, POSITION_STRIDE) for r in records]
        return validity_evidence(
            note, tree, [(r.tx_id, n, i) for r, (n, i) in zip(records, positions, strict=True)]
        )

    def statement(self, height: int | None) -> str:
        """What the members whose keys this gateway holds sign about the validity log at
        ``height`` (the latest when None): asked for by the other members' gateways."""
        own = [a for a in self.attesters if isinstance(a, PeerAttester)]
        if not own:
            raise ConflictError(
                "this gateway holds no member's witness key: it states no validity",
                code="no_validity_key",
            )
        height = self._height(height)
        return merge_statements([a.statement(height) for a in own])

    def _attested(self, height: int) -> tuple[ValidityTree, str]:
        """The validity tree at ``height`` and the members' merged statement of it;
        409 when fewer members than one state this peer's tree."""
        note = attest(self.attesters, height, self._validity.checkpoint(height).text())
        if note is None:
            raise ConflictError(
                f"no member states the validity log this peer committed at height {height}",
                code="validity_not_attested",
            )
        return self._validity.tree(height), note

    def validity_inclusion(
        self, position: int | None, tx_id: str | None, size: int | None
    ) -> dict[str, Any]:
        """The transaction's leaf in the validity log (any transaction, valid or not: the
        leaf states its code), its inclusion proof, and the members' statement of the
        tree at height ``size``. Hashes, the transaction's ID and code: nothing of the
        event, which stays in the block."""
        height = self._height(size)
        if tx_id is not None:
            raw = self.ledger.block_of(tx_id, self.org_id)
            number = int(pb.common.Block.FromString(raw).header.number)
        else:
            assert position is not None
            number, index = divmod(position, POSITION_STRIDE)
            if not 0 < number < height:
                raise NotFoundError(f"no block below {height} holds {position}", code="not_found")
            raw = self.ledger.block(number, self.org_id)
            block = pb.common.Block.FromString(raw)
            if index >= len(block.data.data):
                raise NotFoundError(f"no transaction at {position}", code="not_found")
            tx_id = _tx_id(block.data.data[index])
        if number >= height:
            raise NotFoundError(f"the transaction is above height {height}", code="not_found")
        try:
            index, leaf_data = statement_of(raw, tx_id)
        except ValueError as exc:
            raise IntegrityError(f"the peer's block {number}: {exc}") from exc
        tree, note = self._attested(height)
        leaf = tree.first_leaf(number) + index
        return {
            "kind": "fabric/validity-v1",
            "checkpoint": note,
            "index": leaf,
            "proof": [base64.b64encode(h).decode() for h in tree.proof(leaf)],
            "statement": leaf_data.decode(),
        }

    def validity_consistency(self, size1: int, size2: int) -> list[bytes]:
        """The Merkle proof that the validity log of ``size1`` leaves is a prefix of the
        one of ``size2`` (leaves, not blocks), from the tree this peer committed."""
        tree = self._validity.tree(self.size())
        try:
            return tree.consistency(size1, size2)
        except ValueError as exc:
            raise NotFoundError(str(exc), code="not_found") from exc

    def _record_at(self, position: int | None, tx_id: str | None) -> Record:
        if tx_id is not None:
            raw = self.ledger.block_of(tx_id, self.org_id)
            found = [r for r in block_records(raw, self.ledger.profile.chaincode)]
            match = [r for r in found if r.tx_id == tx_id]
        else:
            assert position is not None
            number = position // POSITION_STRIDE
            if not 0 < number < self.size():
                raise NotFoundError(f"no block holds position {position}", code="not_found")
            found = block_records(
                self.ledger.block(number, self.org_id), self.ledger.profile.chaincode
            )
            match = [r for r in found if r.position == position]
        if not match:
            raise NotFoundError("no valid transaction there", code="not_found")
        return match[0]

    def inclusion(
        self, position: int | None, tx_id: str | None, size: int | None, reveal: Reveal
    ) -> Any:
        """The transaction's block evidence up to height ``size``. The blocks carry the
        event itself, so a caller ``reveal`` refuses gets only the headers from the
        transaction's block to the head: that the block is in the chain, not what it holds."""
        record = self._record_at(position, tx_id)
        anchor = self.anchor(size)
        block = record.position // POSITION_STRIDE
        if block >= anchor.size:
            raise NotFoundError(f"the transaction is above height {anchor.size}", code="not_found")
        out = {
            "kind": "fabric/blocks-v1",
            "index": record.position,
            "size": anchor.size,
            "tx_id": record.tx_id,
            "block": block,
            "head_hash": anchor.summary["head_hash"],
        }
        if reveal(record):
            out["evidence"] = self.evidence([record], anchor)
        else:
            out["headers"] = self._headers(block, anchor.size)
        return out

    def _headers(self, first: int, height: int) -> list[dict[str, Any]]:
        """Blocks ``first`` to ``height - 1``: each header names the hash of the one before."""
        headers = []
        for number in range(first, height):
            header = self._block(number).header
            headers.append(
                {
                    "number": number,
                    "previous_hash": _hex(header.previous_hash),
                    "data_hash": _hex(header.data_hash),
                    "hash": _hex(block_header_hash(header)),
                }
            )
        return headers

    def consistency(self, size1: int, size2: int | None) -> Any:
        """The headers of blocks ``size1 - 1`` to ``size2 - 1``: each names the hash of
        the one before, so the first's hash (the head at ``size1``) is chained into
        the last's (the head at ``size2``); and the Merkle consistency proof between the
        validity log at those heights (in leaves: empty from the genesis block alone)."""
        size2 = self._height(size2)
        if not 0 < size1 <= size2:
            raise NotFoundError(
                f"cannot prove height {size1} consistent with height {size2}", code="not_found"
            )
        headers = self._headers(size1 - 1, size2)
        tree = self._validity.tree(size2)
        leaves1, leaves2 = tree.first_leaf(size1), len(tree.leaves())
        return {
            "kind": "fabric/blocks-v1",
            "channel": self.channel,
            "size1": size1,
            "size2": size2,
            "headers": headers,
            "validity": {
                "size1": leaves1,
                "size2": leaves2,
                "proof": [
                    base64.b64encode(h).decode()
                    for h in (tree.consistency(leaves1, leaves2) if leaves1 else [])
                ],
            },
        }

    def checkpoint(self, size: int | None) -> Any:
        """The head block at height ``size``: its header hash, and the block itself,
        which carries the ordering service's signatures; with the validity log's
        checkpoint at that height as the members who state it cosign it."""
        height = self._height(size)
        raw = self.ledger.block(height - 1, self.org_id)
        head = pb.common.Block.FromString(raw)
        out = {
            "kind": "fabric/blocks-v1",
            "size": height,
            "channel": self.channel,
            "head_hash": _hex(block_header_hash(head.header)),
            "head_block": base64.b64encode(raw).decode(),
        }
        validity = attest(self.attesters, height, self._validity.checkpoint(height).text())
        if validity is not None:
            out["validity"] = validity
        return out

    def pins(self) -> Pins:
        """The genesis block as this member's own peer holds it, and the policy its
        profile says the chaincode was committed with."""
        policy = self.ledger.profile.policy
        return Pins(
            block_header_hash(self._block(0).header),
            None if policy is None else (policy.required, policy.among),
        )

    def cosign(self, size: int | None) -> Any:
        raise ConflictError(
            "this gateway runs on Fabric, where the ordering service signs every block: "
            "there are no checkpoints for witnesses to cosign",
            code="witnesses_not_applicable",
        )
