"""A small Fabric channel made here, with real keys: the blocks a peer would serve.

The events and the contract's results are those of the embedded scenario (the same
referral chain), re-expressed as Fabric endorser transactions: each signed by its
organisation's gateway key, endorsed by two agencies, ordered into blocks that an
orderer signs and chains to a genesis block carrying the consortium's CAs as MSP roots.
So a Fabric bundle can be built and mutated without a network.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaincode.canonical import canonical_json
from ledger_gw import protos as pb
from ledger_gw.audit.fabric_blocks import block_data_hash, block_header_bytes, block_header_hash
from ledger_gw.fabric.proposal import FabricSigner, build_proposal, new_nonce
from ledger_gw.identity import cert_pem, issue_ca, issue_member
from ledger_gw.workspace import Workspace

CHANNEL = "referrals"
CHAINCODE = "referrals"
ENDORSERS = ("AGENCY-A", "AGENCY-B")


@dataclass
class FabricTx:
    tx_id: str
    envelope: bytes
    event: dict[str, Any]


@dataclass
class Channel:
    """Signers by MSP, the genesis block, and the blocks ordered so far."""

    signers: dict[str, FabricSigner]
    genesis: bytes
    blocks: list[bytes] = field(default_factory=list)
    config: int = 0  # the configuration block in force, which each new block names
    orderer: str = "ORDERER"  # the orderer organisation that signs new blocks

    def head(self) -> bytes:
        return self.blocks[-1] if self.blocks else self.genesis

    def order(self, envelopes: Sequence[bytes], flags: bytes | None = None) -> int:
        """Cut one block of ``envelopes`` (all valid unless ``flags``); its number."""
        return self._cut(
            list(envelopes), flags if flags is not None else bytes(len(envelopes)), self.config
        )

    def update_config(self, change: Callable[[Any], None], sequence_step: int = 1) -> int:
        """Cut a configuration block as the orderers do: the configuration in force,
        changed by ``change``, at the next sequence (a forger may step further); it names
        itself as LAST_CONFIG, and the blocks after it name it."""
        config = config_of(self.block(self.config))
        change(config)
        config.sequence += sequence_step
        number = self._cut([config_envelope(config)], b"\x00", None)
        self.config = number
        return number

    def _cut(self, data: list[bytes], flags: bytes, last_config: int | None) -> int:
        previous = pb.common.Block.FromString(self.head())
        number = int(previous.header.number) + 1
        self.blocks.append(
            make_block(
                number,
                block_header_hash(previous.header),
                data,
                self.signers[self.orderer],
                flags,
                number if last_config is None else last_config,
            )
        )
        return number

    def block(self, number: int) -> bytes:
        return self.genesis if number == 0 else self.blocks[number - 1]


def msp_group(msp_id: str, ca_pem: str) -> Any:
    fabric = pb.msp_config.FabricMSPConfig(name=msp_id, root_certs=[ca_pem.encode()])
    msp = pb.msp_config.MSPConfig(type=0, config=fabric.SerializeToString())
    return pb.configtx.ConfigGroup(
        values={"MSP": pb.configtx.ConfigValue(value=msp.SerializeToString())}
    )


def make_block(
    number: int,
    previous: bytes,
    data: list[bytes],
    orderer: FabricSigner | None,
    flags: bytes,
    last_config: int = 0,
) -> bytes:
    """A block, signed as orderers sign: over the metadata value (which names the
    configuration in force, LAST_CONFIG), the signature header and the block header."""
    block = pb.common.Block()
    block.header.number = number
    block.header.previous_hash = previous
    block.header.data_hash = block_data_hash(data)
    block.data.data.extend(data)
    value = b""
    if last_config:
        value = pb.common.OrdererBlockMetadata(
            last_config=pb.common.LastConfig(index=last_config)
        ).SerializeToString()
    signatures = pb.common.Metadata(value=value)
    if orderer is not None:
        sig_header = pb.common.SignatureHeader(creator=orderer.creator, nonce=b"n")
        raw_header = sig_header.SerializeToString()
        header = block_header_bytes(number, previous, block.header.data_hash)
        signatures.signatures.add(
            signature_header=raw_header, signature=orderer.sign(value + raw_header + header)
        )
    block.metadata.metadata.extend([signatures.SerializeToString(), b"", flags, b""])
    return bytes(block.SerializeToString())


def config_of(block_bytes: bytes) -> Any:
    """The channel configuration (``configtx.Config``) a configuration block carries."""
    envelope = pb.common.Envelope.FromString(pb.common.Block.FromString(block_bytes).data.data[0])
    payload = pb.common.Payload.FromString(envelope.payload)
    return pb.configtx.ConfigEnvelope.FromString(payload.data).config


def config_envelope(config: Any) -> bytes:
    """A CONFIG transaction carrying ``config`` whole, as a configuration block holds it."""
    payload = pb.common.Payload(data=pb.configtx.ConfigEnvelope(config=config).SerializeToString())
    payload.header.channel_header = pb.common.ChannelHeader(
        type=pb.common.HeaderType.Value("CONFIG"), channel_id=CHANNEL
    ).SerializeToString()
    return bytes(pb.common.Envelope(payload=payload.SerializeToString()).SerializeToString())


def make_channel(ws: Workspace) -> Channel:
    """A genesis block whose application MSPs are the consortium's organisations."""
    signers = {
        org_id: FabricSigner(org_id, ws.signer(org_id).cert_pem, ws.signer(org_id).key)
        for org_id in ws.consortium.organisations
    }
    ca_key, ca_cert = issue_ca("ORDERER")
    key, cert = issue_member(ca_key, ca_cert, "ORDERER", "agency", "orderer.example")
    signers["ORDERER"] = FabricSigner("ORDERER", cert_pem(cert), key)
    config = pb.configtx.ConfigEnvelope()
    app = config.config.channel_group.groups["Application"]
    for org_id, org in ws.consortium.organisations.items():
        app.groups[org_id].CopyFrom(msp_group(org_id, cert_pem(org.ca_cert)))
    config.config.channel_group.groups["Orderer"].groups["ORDERER"].CopyFrom(
        msp_group("ORDERER", cert_pem(ca_cert))
    )
    data = pb.common.Envelope(
        payload=pb.common.Payload(data=config.SerializeToString()).SerializeToString()
    ).SerializeToString()
    return Channel(signers, make_block(0, b"", [data], None, b"\x00"))


def endorser_tx(
    channel: Channel,
    submitter: str,
    event: dict[str, Any],
    result: dict[str, Any],
    when: dt.datetime,
    endorsers: Sequence[str] = ENDORSERS,
) -> FabricTx:
    """An endorser transaction as the gateway prepares it and the submitter signs it."""
    signer = channel.signers[submitter]
    built = build_proposal(
        creator=signer.creator,
        channel=CHANNEL,
        chaincode=CHAINCODE,
        function="submit",
        args=[canonical_json(event)],
        nonce=new_nonce(),
        timestamp=when,
    )
    proposal = pb.proposal.Proposal.FromString(built.proposal_bytes)
    header = pb.common.Header.FromString(proposal.header)
    action = pb.proposal.ChaincodeAction(
        response=pb.proposal_response.Response(status=200, payload=canonical_json(result)),
        chaincode_id=pb.chaincode.ChaincodeID(name=CHAINCODE),
    )
    prp = pb.proposal_response.ProposalResponsePayload(
        proposal_hash=hashlib.sha256(
            header.channel_header + header.signature_header + proposal.payload
        ).digest(),
        extension=action.SerializeToString(),
    ).SerializeToString()
    cap = pb.transaction.ChaincodeActionPayload(chaincode_proposal_payload=proposal.payload)
    cap.action.proposal_response_payload = prp
    for org_id in endorsers:
        e = channel.signers[org_id]
        cap.action.endorsements.add(endorser=e.creator, signature=e.sign(prp + e.creator))
    tx = pb.transaction.Transaction(
        actions=[
            pb.transaction.TransactionAction(
                header=header.signature_header, payload=cap.SerializeToString()
            )
        ]
    )
    payload = pb.common.Payload(header=header, data=tx.SerializeToString()).SerializeToString()
    envelope = pb.common.Envelope(payload=payload, signature=signer.sign(payload))
    return FabricTx(built.tx_id, bytes(envelope.SerializeToString()), event)


def rewrite_tx(block_bytes: bytes, tx_id: str, change: Any) -> bytes:
    """``block_bytes`` with one transaction's envelope passed through ``change(envelope)``;
    the header is left alone, as a forger without the orderer's key must."""
    block = pb.common.Block.FromString(block_bytes)
    for i, raw in enumerate(block.data.data):
        envelope = pb.common.Envelope.FromString(raw)
        payload = pb.common.Payload.FromString(envelope.payload)
        if pb.common.ChannelHeader.FromString(payload.header.channel_header).tx_id == tx_id:
            block.data.data[i] = change(envelope).SerializeToString()
            return bytes(block.SerializeToString())
    raise AssertionError(f"{tx_id} is not in the block")


def forge_endorsement(envelope: Any) -> Any:
    """The first endorsement's signature replaced by another valid-looking one."""
    payload = pb.common.Payload.FromString(envelope.payload)
    tx = pb.transaction.Transaction.FromString(payload.data)
    cap = pb.transaction.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    sig = bytearray(cap.action.endorsements[0].signature)
    sig[-3] ^= 0x01
    cap.action.endorsements[0].signature = bytes(sig)
    tx.actions[0].payload = cap.SerializeToString()
    payload.data = tx.SerializeToString()
    envelope.payload = payload.SerializeToString()
    return envelope


def change_event(envelope: Any, key: str, value: Any) -> Any:
    """One field of the submitted event changed inside the envelope."""
    payload = pb.common.Payload.FromString(envelope.payload)
    tx = pb.transaction.Transaction.FromString(payload.data)
    cap = pb.transaction.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    cpp = pb.proposal.ChaincodeProposalPayload.FromString(cap.chaincode_proposal_payload)
    spec = pb.chaincode.ChaincodeInvocationSpec.FromString(cpp.input)
    event = json.loads(spec.chaincode_spec.input.args[1])
    event[key] = value
    spec.chaincode_spec.input.args[1] = canonical_json(event)
    cpp.input = spec.SerializeToString()
    cap.chaincode_proposal_payload = cpp.SerializeToString()
    tx.actions[0].payload = cap.SerializeToString()
    payload.data = tx.SerializeToString()
    envelope.payload = payload.SerializeToString()
    return envelope


MVCC_READ_CONFLICT = 11  # peer.TxValidationCode


def set_code(block_bytes: bytes, index: int, code: int) -> bytes:
    """``block_bytes`` with one transaction's validation code changed: what anyone can do,
    since the orderers' signature and the data hash leave the codes out."""
    block = pb.common.Block.FromString(block_bytes)
    codes = bytearray(block.metadata.metadata[2])
    codes[index] = code
    block.metadata.metadata[2] = bytes(codes)
    return bytes(block.SerializeToString())


def tx_index(block_bytes: bytes, tx_id: str) -> int:
    block = pb.common.Block.FromString(block_bytes)
    for i, raw in enumerate(block.data.data):
        payload = pb.common.Payload.FromString(pb.common.Envelope.FromString(raw).payload)
        if pb.common.ChannelHeader.FromString(payload.header.channel_header).tx_id == tx_id:
            return i
    raise AssertionError(f"{tx_id} is not in the block")


def claim_lost_version(bundle: dict[str, Any], lost_tx_id: str, lost_block: bytes) -> Any:
    """A forger's bundle: its one event swapped for the version Fabric refused
    (``lost_tx_id``), whose whole block goes in with that transaction's code set to VALID."""
    out = copy.deepcopy(bundle)
    evidence = out["evidence"]
    number = int(pb.common.Block.FromString(lost_block).header.number)
    first = int(pb.common.Block.FromString(base64.b64decode(evidence["blocks"][0])).header.number)
    flipped = set_code(lost_block, tx_index(lost_block, lost_tx_id), 0)
    evidence["blocks"][number - first] = base64.b64encode(flipped).decode()
    [entry] = evidence["entries"]
    entry.update(tx_id=lost_tx_id, block=number)
    for stated in evidence.get("validity", {}).get("entries", []):
        stated["tx_id"] = lost_tx_id
    return out
