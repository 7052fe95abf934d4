"""Audit evidence on Fabric, checked offline: the block that holds an event, the block
hash chain up to the head, the orderers' block signatures, and the endorsements, all
against the CA certificates in the channel's configuration block.

An evidence bundle is plain JSON (base64 blocks): the channel's genesis (configuration)
block, whose hash the auditor pins as it pins the consortium file, the configuration
blocks after it that are in force at the transaction's block (each update checked under
the configuration before it, so the pinned genesis stays the one trust root), and the
blocks from the one holding the transaction up to the head. `verify_evidence` needs
nothing else: no peer, no network. It is the Fabric counterpart of checking a Merkle
inclusion proof against a witnessed checkpoint on the embedded ledger.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from google.protobuf.message import DecodeError

from ledger_gw import protos as pb
from ledger_gw.errors import AuthenticationError, IntegrityError
from ledger_gw.identity import load_one_certificate, verify_low_s

VALID = 0


# -- the hashes Fabric computes ------------------------------------------------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)
    return _der(0x02, body)


def block_header_bytes(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """ASN.1 DER SEQUENCE {Number INTEGER, PreviousHash OCTET STRING, DataHash OCTET STRING}."""
    return _der(0x30, _der_integer(number) + _der(0x04, previous_hash) + _der(0x04, data_hash))


def block_header_hash(header: Any) -> bytes:
    return hashlib.sha256(
        block_header_bytes(header.number, header.previous_hash, header.data_hash)
    ).digest()


def block_data_hash(data: Iterable[bytes]) -> bytes:
    return hashlib.sha256(b"".join(data)).digest()


# -- the channel configuration: who the organisations are ---------------------------------


@dataclass(frozen=True)
class Msp:
    msp_id: str
    roots: tuple[x509.Certificate, ...]


def _config(config_block: Any) -> Any:
    envelope = pb.common.Envelope.FromString(config_block.data.data[0])
    payload = pb.common.Payload.FromString(envelope.payload)
    return pb.configtx.ConfigEnvelope.FromString(payload.data).config


def channel_msps(config_block: Any) -> dict[str, Msp]:
    """Every organisation's MSP (root CA certificates) in a configuration block."""
    config = _config(config_block)
    out: dict[str, Msp] = {}
    for section in ("Application", "Orderer"):
        if section not in config.channel_group.groups:
            continue
        for group in config.channel_group.groups[section].groups.values():
            if "MSP" not in group.values:
                continue
            msp = pb.msp_config.MSPConfig.FromString(group.values["MSP"].value)
            fabric = pb.msp_config.FabricMSPConfig.FromString(msp.config)
            try:
                roots = tuple(x509.load_pem_x509_certificate(bytes(c)) for c in fabric.root_certs)
            except (ValueError, x509.InvalidVersion) as exc:  # the latter no ValueError
                raise ValueError(f"a root certificate of {fabric.name}: {exc}") from exc
            out[fabric.name] = Msp(fabric.name, roots)
    return out


@dataclass(frozen=True)
class Principal:
    """Whom one place of a signature policy names: any identity of an MSP (a ROLE
    principal), or one identity, by its certificate (IDENTITY: a BFT consenter)."""

    msp_id: str
    certificate: bytes | None = None  # DER


Signer = tuple[str, bytes]  # a signing identity: its MSP ID and certificate (DER)


@dataclass(frozen=True)
class BlockValidation:
    """Who must sign a block: the channel's orderer organisations and its
    ``Orderer/BlockValidation`` policy, an implicit rule over those organisations
    (``ANY``/``ALL``/``MAJORITY`` of their Writers, Raft's default being ANY) or an
    explicit signature policy (BFT: so many of the consenters, each by its identity)."""

    orderers: frozenset[str]
    implicit: str | None = "ANY"  # None when ``rule`` is an explicit signature policy
    rule: Any = None  # common.SignaturePolicy
    principals: tuple[Principal, ...] = ()  # whom each place of ``rule`` names

    def satisfied_by(self, signers: Sequence[Signer]) -> bool:
        if self.implicit is not None:
            have = len({msp for msp, _ in signers} & self.orderers)
            need = {
                "ANY": 1,
                "ALL": len(self.orderers),
                "MAJORITY": len(self.orderers) // 2 + 1,
            }[self.implicit]
            return have >= max(need, 1)
        distinct = list(dict.fromkeys(signers))
        return _signed(self.rule, self.principals, distinct, [False] * len(distinct))


def _signed(
    rule: Any, principals: tuple[Principal, ...], signers: list[Signer], used: list[bool]
) -> bool:
    """Fabric's evaluation: each signing identity meets at most one place of the rule,
    the first unused one that matches (so one consenter's signature counts once, however
    many places name it or its MSP)."""
    if rule.WhichOneof("Type") == "signed_by":
        index = int(rule.signed_by)
        if not 0 <= index < len(principals):
            return False
        for i, signer in enumerate(signers):
            if not used[i] and _matches(principals[index], signer):
                used[i] = True
                return True
        return False
    trial = list(used)
    met = sum(_signed(r, principals, signers, trial) for r in rule.n_out_of.rules)
    if met >= int(rule.n_out_of.n):
        used[:] = trial
        return True
    return False


def _matches(principal: Principal, signer: Signer) -> bool:
    msp_id, certificate = signer
    if principal.msp_id != msp_id:
        return False
    return principal.certificate is None or principal.certificate == certificate


def _principal(raw: Any) -> Principal:
    """A policy's principal as this verifier can judge it; any other kind is refused,
    never read as something weaker."""
    kinds = pb.msp_principal.MSPPrincipal.Classification
    if raw.principal_classification == kinds.Value("ROLE"):
        return Principal(pb.msp_principal.MSPRole.FromString(raw.principal).msp_identifier)
    if raw.principal_classification == kinds.Value("IDENTITY"):
        sid = pb.identities.SerializedIdentity.FromString(raw.principal)
        try:
            cert = load_one_certificate(bytes(sid.id_bytes))
        except ValueError as exc:
            raise IntegrityError(f"a block validation principal's certificate: {exc}") from exc
        return Principal(sid.mspid, cert.public_bytes(Encoding.DER))
    raise IntegrityError(
        "the block validation policy names a principal of a kind this verifier does not "
        f"judge ({kinds.Name(raw.principal_classification)})"
    )


def block_validation(config_block: Any) -> BlockValidation:
    """The rule a block's orderer signatures must meet, from a configuration block."""
    orderer = _config(config_block).channel_group.groups["Orderer"]
    orgs = frozenset(
        pb.msp_config.FabricMSPConfig.FromString(
            pb.msp_config.MSPConfig.FromString(g.values["MSP"].value).config
        ).name
        for g in orderer.groups.values()
        if "MSP" in g.values
    )
    if not orgs:
        raise IntegrityError("the channel configuration names no orderer organisation")
    if "BlockValidation" not in orderer.policies:
        return BlockValidation(orgs)
    policy = orderer.policies["BlockValidation"].policy
    kinds = pb.policies.Policy.PolicyType
    if policy.type == kinds.Value("IMPLICIT_META"):
        meta = pb.policies.ImplicitMetaPolicy.FromString(policy.value)
        return BlockValidation(orgs, pb.policies.ImplicitMetaPolicy.Rule.Name(meta.rule))
    if policy.type == kinds.Value("SIGNATURE"):
        envelope = pb.policies.SignaturePolicyEnvelope.FromString(policy.value)
        principals = tuple(_principal(p) for p in envelope.identities)
        return BlockValidation(orgs, None, envelope.rule, principals)
    raise IntegrityError(f"unsupported block validation policy type {policy.type}")


def _identity(serialized: bytes, msps: dict[str, Msp]) -> tuple[str, ec.EllipticCurvePublicKey]:
    """Check that a serialized identity's certificate was issued by its MSP's CA."""
    msp_id, cert = _certified(serialized, msps)
    return msp_id, _ec_key(cert)


def _ec_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    """The certificate's ECDSA key; AuthenticationError for any other, or one on a curve
    this library cannot load (a CA issues what it likes)."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AuthenticationError("certificate key is not ECDSA")
    return key


def _certified(serialized: bytes, msps: dict[str, Msp]) -> tuple[str, x509.Certificate]:
    """A serialized identity's MSP ID and certificate, which its MSP's CA issued."""
    sid = pb.identities.SerializedIdentity.FromString(serialized)
    msp = msps.get(sid.mspid)
    if msp is None:
        raise AuthenticationError(f"{sid.mspid} is not in the channel configuration")
    try:
        cert = load_one_certificate(bytes(sid.id_bytes))
    except ValueError:
        raise AuthenticationError(f"{sid.mspid}'s identity is not one PEM certificate") from None
    for root in msp.roots:
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return str(sid.mspid), cert
    raise AuthenticationError(f"certificate is not issued by {sid.mspid}'s CA")


# -- the bundle ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    channel: str
    tx_id: str
    config_block: bytes  # the genesis block, raw
    blocks: tuple[bytes, ...]  # the transaction's block, then each following block to the head
    configs: tuple[bytes, ...] = ()  # the configuration updates in force at blocks[0], in order

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "tx_id": self.tx_id,
            "config_block": base64.b64encode(self.config_block).decode(),
            "config_blocks": [base64.b64encode(b).decode() for b in self.configs],
            "blocks": [base64.b64encode(b).decode() for b in self.blocks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(
            str(data["channel"]),
            str(data["tx_id"]),
            base64.b64decode(data["config_block"]),
            tuple(base64.b64decode(b) for b in data["blocks"]),
            tuple(base64.b64decode(b) for b in data.get("config_blocks", ())),
        )


@dataclass(frozen=True)
class EvidenceReport:
    tx_id: str
    block: int
    tx_index: int
    creator: str
    endorsers: tuple[str, ...]
    head: int
    head_hash: bytes
    genesis_hash: bytes


@dataclass(frozen=True)
class EndorsementPolicy:
    """At least `required` distinct organisations of `among` endorsed (OutOf(n, ...))."""

    required: int
    among: frozenset[str]


def _signatures(block: Any) -> Any:
    return pb.common.Metadata.FromString(
        block.metadata.metadata[pb.common.BlockMetadataIndex.Value("SIGNATURES")]
    )


def _verify_orderer_signature(
    block: Any, msps: dict[str, Msp], validation: BlockValidation
) -> None:
    """Every signature on the block is an orderer organisation's and verifies, and together
    they meet the channel's block validation policy: a member that is no orderer cannot
    sign a block into the chain, whatever its certificate says."""
    n = block.header.number
    md = _signatures(block)
    if not md.signatures:
        raise IntegrityError(f"block {n} carries no orderer signature")
    header = block_header_bytes(n, block.header.previous_hash, block.header.data_hash)
    signers: list[Signer] = []
    for sig in md.signatures:
        creator = pb.common.SignatureHeader.FromString(sig.signature_header).creator
        try:
            msp_id, cert = _certified(creator, msps)
            key = _ec_key(cert)
        except AuthenticationError as exc:
            raise IntegrityError(f"block {n}: orderer signature: {exc}") from exc
        if msp_id not in validation.orderers:
            raise IntegrityError(
                f"block {n}: orderer signature by {msp_id}, which is not an orderer "
                "organisation of the channel"
            )
        try:
            verify_low_s(key, sig.signature, md.value + sig.signature_header + header)
        except AuthenticationError as exc:
            raise IntegrityError(
                f"block {n}: orderer signature by {msp_id} does not verify"
            ) from exc
        signers.append((msp_id, cert.public_bytes(Encoding.DER)))
    if not validation.satisfied_by(signers):
        raise IntegrityError(
            f"block {n}: orderer signatures by {sorted({m for m, _ in signers})} do not meet "
            "the channel's block validation policy"
        )


def compact(block_bytes: bytes) -> bytes:
    """A block reduced to what proves it is in the chain: its header and its orderer
    signatures, which sign the header (not the data). Configuration blocks stay whole,
    since the rules for the blocks after them are in their data."""
    block = pb.common.Block.FromString(block_bytes)
    if _is_config(block):
        return block_bytes
    header_only = pb.common.Block(header=block.header)
    header_only.metadata.metadata.extend(
        [block.metadata.metadata[pb.common.BlockMetadataIndex.Value("SIGNATURES")]]
    )
    return bytes(header_only.SerializeToString())


def last_config(block: Any) -> int:
    """The block number of the channel configuration this block was ordered under (a
    configuration block names itself): orderer-signed, in the signatures' metadata."""
    value = _signatures(block).value
    return int(pb.common.OrdererBlockMetadata.FromString(value).last_config.index) if value else 0


def _is_config(block: Any) -> bool:
    envelope = pb.common.Envelope.FromString(block.data.data[0])
    payload = pb.common.Payload.FromString(envelope.payload)
    header = pb.common.ChannelHeader.FromString(payload.header.channel_header)
    return bool(header.type == pb.common.HeaderType.Value("CONFIG"))


def holds_config(block: Any) -> bool:
    """Whether a (decoded) block is whole and a configuration block; False for one that
    does not decode, whose own check reports it."""
    try:
        return bool(block.data.data) and _is_config(block)
    except (DecodeError, IndexError):
        return False


def configs_in_force(read: Callable[[int], bytes], number: int) -> list[bytes]:
    """The configuration blocks after genesis in force at block ``number``, oldest first,
    as ``read`` (a block by number) serves them: LAST_CONFIG names the latest, and the
    block before that one names the one before it. Only these, never the blocks between."""
    out: list[bytes] = []
    named = last_config(pb.common.Block.FromString(read(number)))
    while named:
        if named >= number:
            raise IntegrityError(
                f"the configuration in force before block {number} is named as block "
                f"{named}, not an earlier one"
            )
        out.append(read(named))
        number, named = named, last_config(pb.common.Block.FromString(read(named - 1)))
    return out[::-1]


Found = tuple[int, Any, Any]  # a transaction's index in its block, envelope and payload


class TxIndex:
    """``find_tx`` over one block, each envelope decoded once however many are looked up:
    a bundle may name many transactions of one block, and must not cost their square."""

    def __init__(self, block: Any) -> None:
        self._data = block.data.data
        self._seen: dict[str, Found] = {}
        self._next = 0

    def find(self, tx_id: str) -> Found | None:
        """As ``find_tx``: the first transaction of that ID, or None; DecodeError from an
        envelope that does not decode before it."""
        if tx_id in self._seen:
            return self._seen[tx_id]
        while self._next < len(self._data):
            index = self._next
            envelope = pb.common.Envelope.FromString(self._data[index])
            payload = pb.common.Payload.FromString(envelope.payload)
            channel_header = pb.common.ChannelHeader.FromString(payload.header.channel_header)
            self._next += 1
            found = self._seen.setdefault(str(channel_header.tx_id), (index, envelope, payload))
            if channel_header.tx_id == tx_id:
                return found
        return None


def find_tx(block: Any, tx_id: str) -> Found | None:
    """The transaction's index in the block, its envelope and payload; None if absent."""
    return TxIndex(block).find(tx_id)


def json_object(data: bytes) -> dict[str, Any]:
    """A JSON object read from a transaction (an event, a contract's answer); {} else."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # a forged block's "[[[[…" too
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ChannelConfig:
    """The channel configuration in force: the pinned genesis block's, or that of a later
    configuration block found sound under the one in force before it."""

    block: int  # the number of the block that carries it: 0 for genesis
    sequence: int  # its Config.sequence, one more with each update
    msps: dict[str, Msp]
    validation: BlockValidation


def channel_config(config_block: Any) -> ChannelConfig:
    """What a (decoded) configuration block puts in force, unchecked."""
    return ChannelConfig(
        int(config_block.header.number),
        int(_config(config_block).sequence),
        channel_msps(config_block),
        block_validation(config_block),
    )


def genesis_config(
    config_block: bytes, *, genesis_hash: bytes | None = None
) -> tuple[bytes, ChannelConfig]:
    """The genesis block's header hash and configuration, the one trust root: checked
    against the auditor's pin when given. Raises IntegrityError."""
    genesis = pb.common.Block.FromString(config_block)
    g_hash = block_header_hash(genesis.header)
    if genesis.header.number != 0:
        raise IntegrityError("the configuration block given is not the genesis block")
    if genesis_hash is not None and g_hash != genesis_hash:
        raise IntegrityError("the genesis block is not the one the auditor pinned")
    if block_data_hash(genesis.data.data) != genesis.header.data_hash:
        raise IntegrityError("the genesis block's data does not match its header")
    return g_hash, channel_config(genesis)


def next_config(current: ChannelConfig, block: Any) -> ChannelConfig:
    """The configuration a (decoded) configuration block puts in force after ``current``.
    Its data must match its header, its sequence must be the next, and the orderers
    ``current`` names must have signed it under ``current``'s rule: so an update cannot
    be forged, skipped, replayed or moved. Raises IntegrityError."""
    n = int(block.header.number)
    if not block.data.data or not _is_config(block):
        raise IntegrityError(f"block {n}, carried as a configuration block, is not one")
    if n <= current.block:
        raise IntegrityError(
            f"configuration block {n} does not come after configuration block {current.block}"
        )
    if block_data_hash(block.data.data) != block.header.data_hash:
        raise IntegrityError(f"configuration block {n}: data does not match the header's data hash")
    sequence = int(_config(block).sequence)
    if sequence != current.sequence + 1:
        raise IntegrityError(
            f"configuration block {n} has sequence {sequence}, not {current.sequence + 1}: "
            "an update before it is missing or out of order"
        )
    _verify_orderer_signature(block, current.msps, current.validation)
    if last_config(block) not in (n, current.block):
        raise IntegrityError(
            f"configuration block {n} names block {last_config(block)} as its configuration"
        )
    return channel_config(block)


def follow_configs(current: ChannelConfig, blocks: Iterable[Any]) -> ChannelConfig:
    """The configuration in force after the configuration blocks ``blocks`` (raw or
    decoded, oldest first), each checked by :func:`next_config`."""
    for block in blocks:
        current = next_config(current, _decoded(block))
    return current


def _decoded(block: Any) -> Any:
    return pb.common.Block.FromString(block) if isinstance(block, bytes) else block


@dataclass(frozen=True)
class Chain:
    """A run of blocks found sound, from the one holding a transaction to the head."""

    genesis_hash: bytes
    msps: dict[str, Msp]  # the channel's, as in force at the transaction's block
    first: Any  # the block holding the transaction, decoded
    last: Any


def verify_evidence(
    evidence: Evidence,
    *,
    genesis_hash: bytes | None = None,
    policy: EndorsementPolicy | None = None,
) -> EvidenceReport:
    """Everything an auditor checks, offline. Raises IntegrityError naming the first fault."""
    chain = verify_chain(
        evidence.config_block, evidence.blocks, genesis_hash=genesis_hash, configs=evidence.configs
    )
    return verify_transaction(chain, evidence.tx_id, find_tx(chain.first, evidence.tx_id), policy)


def verify_chain(
    config_block: bytes,
    blocks: Sequence[Any],
    *,
    genesis_hash: bytes | None = None,
    configs: Sequence[Any] = (),
) -> Chain:
    """The genesis block, the configuration blocks ``configs`` in force at the run's first
    block, then each block of the run (raw, or decoded already). Raises IntegrityError
    at the first fault."""
    g_hash, config = genesis_config(config_block, genesis_hash=genesis_hash)
    return verify_run(g_hash, follow_configs(config, configs), blocks)


def verify_run(genesis_hash: bytes, config: ChannelConfig, blocks: Sequence[Any]) -> Chain:
    """Each block of the run (raw, or decoded already): data, chaining, orderer
    signatures, under ``config`` (in force at its first block) and each configuration
    block the run holds. Every block must name as LAST_CONFIG the one in force, so none
    left out goes unnoticed. Raises IntegrityError at the first fault."""
    if not blocks:
        raise IntegrityError("no blocks in the evidence")
    blocks = [_decoded(b) for b in blocks]
    at_first = config
    previous = None
    for position, block in enumerate(blocks):
        n = block.header.number
        whole = bool(block.data.data)  # a later block may come as its header alone
        if position == 0 and not whole:
            raise IntegrityError(f"block {n}, which holds the transaction, came without its data")
        if whole and block_data_hash(block.data.data) != block.header.data_hash:
            raise IntegrityError(f"block {n}: data does not match the header's data hash")
        if previous is not None:
            if n != previous.header.number + 1:
                raise IntegrityError(f"block {n} does not follow block {previous.header.number}")
            if block.header.previous_hash != block_header_hash(previous.header):
                raise IntegrityError(f"block {n} does not chain to block {n - 1}")
        if whole and _is_config(block):  # signed under the old rules; the new ones apply next
            config = next_config(config, block)
        else:
            _check_last_config(block, config)
            _verify_orderer_signature(block, config.msps, config.validation)
        previous = block
    return Chain(genesis_hash, at_first.msps, blocks[0], blocks[-1])


def _check_last_config(block: Any, config: ChannelConfig) -> None:
    """The block names the configuration the evidence has in force, neither one it
    lacks nor an older one (then the evidence carries one too new)."""
    n, named = block.header.number, last_config(block)
    if named > config.block:
        raise IntegrityError(
            f"block {n} was ordered under the channel configuration of block {named}, "
            "which the evidence does not carry"
        )
    if named < config.block:
        raise IntegrityError(
            f"block {n} was ordered under the channel configuration of block {named}, not "
            f"under the later one of block {config.block} that the evidence carries"
        )


def verify_transaction(
    chain: Chain, tx_id: str, found: Found | None, policy: EndorsementPolicy | None
) -> EvidenceReport:
    """The transaction ``found`` in the chain's first block (None: not there): valid,
    signed by its submitter, endorsed as ``policy`` asks. Raises IntegrityError."""
    first = chain.first
    if found is None:
        raise IntegrityError(f"block {first.header.number} does not hold transaction {tx_id}")
    index, envelope, payload = found
    flags = first.metadata.metadata[pb.common.BlockMetadataIndex.Value("TRANSACTIONS_FILTER")]
    if index >= len(flags) or flags[index] != VALID:
        raise IntegrityError(f"transaction {tx_id} is not marked valid in its block")
    msps = chain.msps
    signature_header = pb.common.SignatureHeader.FromString(payload.header.signature_header)
    creator, creator_key = _identity(signature_header.creator, msps)
    try:
        verify_low_s(creator_key, envelope.signature, envelope.payload)
    except AuthenticationError as exc:
        raise IntegrityError(f"the submitter's signature on {tx_id} fails") from exc
    tx = pb.transaction.Transaction.FromString(payload.data)
    endorsers: list[str] = []
    for action in tx.actions:
        cap = pb.transaction.ChaincodeActionPayload.FromString(action.payload)
        prp = cap.action.proposal_response_payload
        for endorsement in cap.action.endorsements:
            msp_id, key = _identity(endorsement.endorser, msps)
            try:
                verify_low_s(key, endorsement.signature, prp + endorsement.endorser)
            except AuthenticationError as exc:
                raise IntegrityError(f"the endorsement by {msp_id} does not verify") from exc
            endorsers.append(msp_id)
    if policy is not None:
        met = set(endorsers) & policy.among
        if len(met) < policy.required:
            raise IntegrityError(
                f"endorsed by {sorted(set(endorsers))}: fewer than {policy.required} of "
                f"{sorted(policy.among)}"
            )
    last = chain.last
    return EvidenceReport(
        tx_id=tx_id,
        block=int(first.header.number),
        tx_index=index,
        creator=creator,
        endorsers=tuple(sorted(set(endorsers))),
        head=int(last.header.number),
        head_hash=block_header_hash(last.header),
        genesis_hash=chain.genesis_hash,
    )


def block_number_of(block_bytes: bytes) -> int:
    return int(pb.common.Block.FromString(block_bytes).header.number)
