"""Offline verification of Fabric block evidence, on blocks built here with real keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

import pytest

from ledger_gw import protos as pb
from ledger_gw.audit.fabric_blocks import (
    EndorsementPolicy,
    Evidence,
    block_data_hash,
    block_header_bytes,
    block_header_hash,
    compact,
    json_object,
    verify_evidence,
)
from ledger_gw.errors import IntegrityError
from ledger_gw.fabric.proposal import FabricSigner
from ledger_gw.identity import cert_pem, issue_ca, issue_member
from tests.support import fabric_blocks as fb

AGENCIES = frozenset({"AGENCY-A", "AGENCY-B", "AGENCY-C"})
TX_ID = "ab" * 32


def test_block_header_bytes_known_values() -> None:
    data_hash = bytes(32)
    assert block_header_bytes(0, b"", data_hash) == bytes.fromhex("302702010004000420") + data_hash
    # 128 needs a leading zero byte to stay positive in DER
    assert block_header_bytes(128, b"\x01", b"\x02").hex() == "300a020200800401010401" + "02"
    assert block_data_hash([b"a", b"bc"]) == hashlib.sha256(b"abc").digest()


@dataclass(frozen=True)
class Org:
    msp_id: str
    ca_pem: bytes
    member: FabricSigner


def _org(msp_id: str) -> Org:
    ca_key, ca_cert = issue_ca(msp_id)
    key, cert = issue_member(ca_key, ca_cert, msp_id, "agency", f"n.{msp_id}")
    return Org(msp_id, cert_pem(ca_cert).encode(), FabricSigner(msp_id, cert_pem(cert), key))


@pytest.fixture(scope="module")
def orgs() -> dict[str, Org]:
    return {o: _org(o) for o in ("ORDERER", "AGENCY-A", "AGENCY-B", "AGENCY-C")}


def _msp_group(org: Org) -> object:
    return fb.msp_group(org.msp_id, org.ca_pem.decode())


def _block(
    number: int, previous: bytes, data: list[bytes], orderer: Org | None, flags: bytes
) -> bytes:
    return fb.make_block(number, previous, data, orderer.member if orderer else None, flags)


def _tx(creator: Org, endorsers: list[Org], tx_id: str = TX_ID) -> bytes:
    prp = b"proposal response payload"
    cap = pb.transaction.ChaincodeActionPayload()
    cap.action.proposal_response_payload = prp
    for e in endorsers:
        cap.action.endorsements.add(
            endorser=e.member.creator, signature=e.member.sign(prp + e.member.creator)
        )
    tx = pb.transaction.Transaction(
        actions=[pb.transaction.TransactionAction(payload=cap.SerializeToString())]
    )
    payload = pb.common.Payload(data=tx.SerializeToString())
    payload.header.channel_header = pb.common.ChannelHeader(type=3, tx_id=tx_id).SerializeToString()
    payload.header.signature_header = pb.common.SignatureHeader(
        creator=creator.member.creator
    ).SerializeToString()
    raw = payload.SerializeToString()
    return bytes(
        pb.common.Envelope(payload=raw, signature=creator.member.sign(raw)).SerializeToString()
    )


def _chain(orgs: dict[str, Org], endorsers: list[str], flag: int = 0) -> Evidence:
    config = pb.configtx.ConfigEnvelope()
    app = config.config.channel_group.groups["Application"]
    for o in ("AGENCY-A", "AGENCY-B", "AGENCY-C"):
        app.groups[o].CopyFrom(_msp_group(orgs[o]))
    config.config.channel_group.groups["Orderer"].groups["ORDERER"].CopyFrom(
        _msp_group(orgs["ORDERER"])
    )
    genesis_data = pb.common.Envelope(
        payload=pb.common.Payload(data=config.SerializeToString()).SerializeToString()
    ).SerializeToString()
    genesis = _block(0, b"", [genesis_data], None, b"\x00")
    g_hash = block_header_hash(pb.common.Block.FromString(genesis).header)
    filler = _tx(orgs["AGENCY-C"], [orgs["AGENCY-C"]], "cd" * 32)
    one = _block(
        1,
        g_hash,
        [filler, _tx(orgs["AGENCY-A"], [orgs[e] for e in endorsers])],
        orgs["ORDERER"],
        bytes([0, flag]),
    )
    one_hash = block_header_hash(pb.common.Block.FromString(one).header)
    two = _block(2, one_hash, [filler], orgs["ORDERER"], b"\x00")
    return Evidence("referrals", TX_ID, genesis, (one, two))


def test_valid_evidence(orgs: dict[str, Org]) -> None:
    evidence = _chain(orgs, ["AGENCY-A", "AGENCY-B"])
    pinned = block_header_hash(pb.common.Block.FromString(evidence.config_block).header)
    report = verify_evidence(
        Evidence.from_dict(evidence.to_dict()),
        genesis_hash=pinned,
        policy=EndorsementPolicy(2, AGENCIES),
    )
    assert (report.block, report.tx_index, report.head) == (1, 1, 2)
    assert report.creator == "AGENCY-A"
    assert report.endorsers == ("AGENCY-A", "AGENCY-B")


def test_policy_validity_and_pins(orgs: dict[str, Org]) -> None:
    with pytest.raises(IntegrityError, match="fewer than 2"):
        verify_evidence(_chain(orgs, ["AGENCY-A"]), policy=EndorsementPolicy(2, AGENCIES))
    with pytest.raises(IntegrityError, match="not marked valid"):
        verify_evidence(_chain(orgs, ["AGENCY-A", "AGENCY-B"], flag=11))
    with pytest.raises(IntegrityError, match="pinned"):
        verify_evidence(_chain(orgs, ["AGENCY-A"]), genesis_hash=bytes(32))


def test_tampering_is_caught(orgs: dict[str, Org]) -> None:
    evidence = _chain(orgs, ["AGENCY-A", "AGENCY-B"])
    one = pb.common.Block.FromString(evidence.blocks[0])
    two = pb.common.Block.FromString(evidence.blocks[1])
    # a changed transaction breaks the data hash
    forged = pb.common.Block()
    forged.CopyFrom(one)
    forged.data.data[1] = _tx(orgs["AGENCY-B"], [orgs["AGENCY-A"], orgs["AGENCY-B"]])
    with pytest.raises(IntegrityError, match="data hash"):
        verify_evidence(replace(evidence, blocks=(forged.SerializeToString(), evidence.blocks[1])))
    # ... and re-hashing it breaks the chain to the next block and the orderer's signature
    forged.header.data_hash = block_data_hash(forged.data.data)
    with pytest.raises(IntegrityError, match="orderer signature"):
        verify_evidence(replace(evidence, blocks=(forged.SerializeToString(),)))
    unchained = _block(2, bytes(32), list(two.data.data), orgs["ORDERER"], b"\x00")
    with pytest.raises(IntegrityError, match="does not chain"):
        verify_evidence(replace(evidence, blocks=(evidence.blocks[0], unchained)))
    with pytest.raises(IntegrityError, match="does not follow"):
        verify_evidence(replace(evidence, blocks=(evidence.blocks[0], evidence.blocks[0])))


def test_an_outsider_endorsement_is_refused(orgs: dict[str, Org]) -> None:
    stranger = replace(_org("AGENCY-B"), msp_id="AGENCY-B")  # claims AGENCY-B, another CA
    config = _chain(orgs, ["AGENCY-A"])
    tx = _tx(orgs["AGENCY-A"], [orgs["AGENCY-A"], stranger])
    one = pb.common.Block.FromString(config.blocks[0])
    block = _block(
        1, one.header.previous_hash, [one.data.data[0], tx], orgs["ORDERER"], b"\x00\x00"
    )
    with pytest.raises(Exception, match="not issued by AGENCY-B"):
        verify_evidence(replace(config, blocks=(block,)))


# -- who may sign a block: the channel's orderer organisations, under its policy ---------


def _genesis(orgs: dict[str, Org], orderers: list[str], policy: object | None = None) -> bytes:
    config = pb.configtx.ConfigEnvelope()
    app = config.config.channel_group.groups["Application"]
    for o in ("AGENCY-A", "AGENCY-B", "AGENCY-C"):
        app.groups[o].CopyFrom(_msp_group(orgs[o]))
    orderer = config.config.channel_group.groups["Orderer"]
    for o in orderers:
        orderer.groups[o].CopyFrom(_msp_group(orgs[o]))
    if policy is not None:
        orderer.policies["BlockValidation"].policy.CopyFrom(policy)
    data = pb.common.Envelope(
        payload=pb.common.Payload(data=config.SerializeToString()).SerializeToString()
    ).SerializeToString()
    return _block(0, b"", [data], None, b"\x00")


def _signed_block(
    number: int, previous: bytes, data: list[bytes], signers: list[Org], last_config: int = 0
) -> bytes:
    """A block signed by each of ``signers``, as orderers sign: over the metadata value,
    the signature header and the block header."""
    block = pb.common.Block.FromString(_block(number, previous, data, None, b"\x00" * len(data)))
    value = b""
    if last_config:
        meta = pb.common.OrdererBlockMetadata()
        meta.last_config.index = last_config
        value = meta.SerializeToString()
    signatures = pb.common.Metadata(value=value)
    header = block_header_bytes(number, previous, block.header.data_hash)
    for org in signers:
        raw = pb.common.SignatureHeader(creator=org.member.creator, nonce=b"n").SerializeToString()
        signatures.signatures.add(
            signature_header=raw, signature=org.member.sign(value + raw + header)
        )
    block.metadata.metadata[0] = signatures.SerializeToString()
    return bytes(block.SerializeToString())


def _one_block(
    orgs: dict[str, Org], genesis: bytes, signers: list[str], last_config: int = 0
) -> Evidence:
    g_hash = block_header_hash(pb.common.Block.FromString(genesis).header)
    tx = _tx(orgs["AGENCY-A"], [orgs["AGENCY-A"], orgs["AGENCY-B"]])
    one = _signed_block(1, g_hash, [tx], [orgs[s] for s in signers], last_config)
    return Evidence("referrals", TX_ID, genesis, (one,))


def test_a_member_that_is_no_orderer_cannot_sign_a_block(orgs: dict[str, Org]) -> None:
    """The forgery: an agency endorses an event, never submits it, wraps it in a block of
    its own and signs that block with its own key."""
    genesis = _genesis(orgs, ["ORDERER"])
    assert verify_evidence(_one_block(orgs, genesis, ["ORDERER"])).block == 1
    for forger in ("AGENCY-A", "AGENCY-B"):
        with pytest.raises(IntegrityError, match=f"by {forger}, which is not an orderer"):
            verify_evidence(_one_block(orgs, genesis, [forger]))
    with pytest.raises(IntegrityError, match="not an orderer organisation"):
        verify_evidence(_one_block(orgs, genesis, ["ORDERER", "AGENCY-A"]))


def _org_policy(*, rule: str | None = None, n: int = 0, of: tuple[str, ...] = ()) -> object:
    if rule is not None:
        meta = pb.policies.ImplicitMetaPolicy(
            sub_policy="Writers", rule=pb.policies.ImplicitMetaPolicy.Rule.Value(rule)
        )
        return pb.policies.Policy(type=3, value=meta.SerializeToString())
    envelope = pb.policies.SignaturePolicyEnvelope()
    envelope.rule.n_out_of.n = n
    for i, msp in enumerate(of):
        envelope.rule.n_out_of.rules.add(signed_by=i)
        envelope.identities.add(
            principal_classification=0,
            principal=pb.msp_principal.MSPRole(msp_identifier=msp, role=0).SerializeToString(),
        )
    return pb.policies.Policy(type=1, value=envelope.SerializeToString())


@pytest.fixture(scope="module")
def two_orderers(orgs: dict[str, Org]) -> dict[str, Org]:
    return {**orgs, "ORDERER-2": _org("ORDERER-2")}


def test_block_validation_policy_counts_orderer_organisations(
    two_orderers: dict[str, Org],
) -> None:
    orgs = two_orderers
    both = ("ORDERER", "ORDERER-2")
    cases = [
        (_org_policy(rule="ANY"), ["ORDERER"], True),
        (_org_policy(rule="ALL"), ["ORDERER"], False),
        (_org_policy(rule="ALL"), both, True),
        (_org_policy(rule="MAJORITY"), ["ORDERER-2"], False),
        (_org_policy(n=2, of=both), ["ORDERER"], False),
        (_org_policy(n=2, of=both), both, True),
        (_org_policy(n=1, of=("ORDERER-2",)), ["ORDERER"], False),
    ]
    for policy, signers, ok in cases:
        evidence = _one_block(orgs, _genesis(orgs, list(both), policy), signers)
        if ok:
            assert verify_evidence(evidence).block == 1
        else:
            with pytest.raises(IntegrityError, match="block validation policy"):
                verify_evidence(evidence)


def _consenters(count: int) -> tuple[Org, list[Org]]:
    """One orderer organisation's CA and ``count`` consenters it issued, plus in the
    list's last place an identity the same CA issued that is no consenter."""
    ca_key, ca_cert = issue_ca("ORDERER")
    ca_pem = cert_pem(ca_cert).encode()
    nodes = []
    for i in range(count + 1):
        key, cert = issue_member(ca_key, ca_cert, "ORDERER", "agency", f"orderer{i}.example")
        nodes.append(Org("ORDERER", ca_pem, FabricSigner("ORDERER", cert_pem(cert), key)))
    return nodes[0], nodes


def _bft_policy(n: int, consenters: list[Org]) -> object:
    """As Fabric encodes a BFT channel's BlockValidation: n of the consenters, each named
    by its identity."""
    envelope = pb.policies.SignaturePolicyEnvelope()
    envelope.rule.n_out_of.n = n
    for i, node in enumerate(consenters):
        envelope.rule.n_out_of.rules.add(signed_by=i)
        identity = pb.identities.SerializedIdentity(
            mspid="ORDERER", id_bytes=node.member.cert_pem.encode()
        )
        envelope.identities.add(
            principal_classification=pb.msp_principal.MSPPrincipal.IDENTITY,
            principal=identity.SerializeToString(),
        )
    return pb.policies.Policy(type=1, value=envelope.SerializeToString())


def test_a_bft_quorum_needs_that_many_distinct_consenters(orgs: dict[str, Org]) -> None:
    """3 of 4 consenters, each named by its identity: one consenter's signature, the
    same one thrice, or a certificate of the orderers' CA that is no consenter's, does
    not meet it, however many places name the orderers' MSP."""
    ca, nodes = _consenters(4)
    consenters, outsider = nodes[:4], nodes[4]
    local = {**orgs, "ORDERER": ca}
    genesis = _genesis(local, ["ORDERER"], _bft_policy(3, consenters))
    g_hash = block_header_hash(pb.common.Block.FromString(genesis).header)
    tx = _tx(orgs["AGENCY-A"], [orgs["AGENCY-A"], orgs["AGENCY-B"]])

    def signed_by(signers: list[Org]) -> Evidence:
        block = _signed_block(1, g_hash, [tx], signers)
        return Evidence("referrals", TX_ID, genesis, (block,))

    assert verify_evidence(signed_by(consenters[:3])).block == 1
    assert verify_evidence(signed_by(consenters[1:])).block == 1
    for short in (
        consenters[:1],
        [consenters[0]] * 3,
        [*consenters[:2], consenters[1]],
        [*consenters[:2], outsider],
        [outsider],
    ):
        with pytest.raises(IntegrityError, match="block validation policy"):
            verify_evidence(signed_by(short))


def test_a_principal_of_a_kind_not_judged_is_refused(orgs: dict[str, Org]) -> None:
    envelope = pb.policies.SignaturePolicyEnvelope()
    envelope.rule.n_out_of.n = 1
    envelope.rule.n_out_of.rules.add(signed_by=0)
    envelope.identities.add(
        principal_classification=pb.msp_principal.MSPPrincipal.ORGANIZATION_UNIT,
        principal=b"\x0a\x07ORDERER",
    )
    policy = pb.policies.Policy(type=1, value=envelope.SerializeToString())
    with pytest.raises(IntegrityError, match="principal of a kind"):
        verify_evidence(_one_block(orgs, _genesis(orgs, ["ORDERER"], policy), ["ORDERER"]))


def test_a_block_ordered_under_a_configuration_the_evidence_lacks_is_refused(
    orgs: dict[str, Org],
) -> None:
    """After a configuration change (say, a new orderer organisation), blocks are judged by
    the new rules: evidence that skips the configuration block cannot be checked."""
    genesis = _genesis(orgs, ["ORDERER"])
    with pytest.raises(IntegrityError, match="configuration of block 7"):
        verify_evidence(_one_block(orgs, genesis, ["ORDERER"], last_config=7))


def test_a_configuration_block_in_the_chain_changes_who_signs_next(
    two_orderers: dict[str, Org],
) -> None:
    orgs = two_orderers
    genesis = _genesis(orgs, ["ORDERER"])
    evidence = _one_block(orgs, genesis, ["ORDERER"])
    config_data = pb.common.Block.FromString(_genesis(orgs, ["ORDERER", "ORDERER-2"])).data.data[0]
    envelope = pb.common.Envelope.FromString(config_data)
    payload = pb.common.Payload.FromString(envelope.payload)
    payload.header.channel_header = pb.common.ChannelHeader(type=1).SerializeToString()
    update = pb.configtx.ConfigEnvelope.FromString(payload.data)
    update.config.sequence = 1  # the first update after genesis
    payload.data = update.SerializeToString()
    config = pb.common.Envelope(payload=payload.SerializeToString()).SerializeToString()
    one = evidence.blocks[0]
    one_hash = block_header_hash(pb.common.Block.FromString(one).header)
    two = _signed_block(2, one_hash, [config], [orgs["ORDERER"]], last_config=2)
    two_hash = block_header_hash(pb.common.Block.FromString(two).header)
    filler = _tx(orgs["AGENCY-C"], [orgs["AGENCY-C"]], "cd" * 32)
    by_new = _signed_block(3, two_hash, [filler], [orgs["ORDERER-2"]], last_config=2)
    assert verify_evidence(replace(evidence, blocks=(one, two, by_new))).head == 3
    # the new orderer could not have signed before the configuration named it
    early = _signed_block(2, one_hash, [filler], [orgs["ORDERER-2"]])
    with pytest.raises(IntegrityError, match="ORDERER-2 is not in the channel configuration"):
        verify_evidence(replace(evidence, blocks=(one, early)))


# -- compact evidence: later blocks as their signed headers ------------------------------


def _long_chain(orgs: dict[str, Org], length: int) -> Evidence:
    """The transaction's block, then ``length`` more blocks of other transactions."""
    evidence = _chain(orgs, ["AGENCY-A", "AGENCY-B"])
    blocks = list(evidence.blocks)
    filler = _tx(orgs["AGENCY-C"], [orgs["AGENCY-C"]], "cd" * 32)
    while len(blocks) < length + 1:
        previous = pb.common.Block.FromString(blocks[-1])
        blocks.append(
            _block(
                previous.header.number + 1,
                block_header_hash(previous.header),
                [filler] * 20,
                orgs["ORDERER"],
                bytes(20),
            )
        )
    return replace(evidence, blocks=tuple(blocks))


def _compacted(evidence: Evidence) -> Evidence:
    return replace(evidence, blocks=(evidence.blocks[0], *map(compact, evidence.blocks[1:])))


def test_later_blocks_as_signed_headers_prove_the_same(orgs: dict[str, Org]) -> None:
    full = _long_chain(orgs, 10)
    small = _compacted(full)
    assert verify_evidence(small) == verify_evidence(full)
    assert len(json.dumps(small.to_dict())) < len(json.dumps(full.to_dict())) / 4


def test_a_signed_header_cannot_be_changed(orgs: dict[str, Org]) -> None:
    small = _compacted(_long_chain(orgs, 3))
    block = pb.common.Block.FromString(small.blocks[2])
    block.header.data_hash = bytes(32)  # another block's content under the same signature
    tampered = replace(
        small, blocks=(*small.blocks[:2], block.SerializeToString(), *small.blocks[3:])
    )
    with pytest.raises(IntegrityError):
        verify_evidence(tampered)


def test_the_transactions_own_block_must_come_whole(orgs: dict[str, Org]) -> None:
    full = _long_chain(orgs, 2)
    headers_only = replace(full, blocks=tuple(map(compact, full.blocks)))
    with pytest.raises(IntegrityError, match="came without its data"):
        verify_evidence(headers_only)


@pytest.mark.parametrize("payload", [b"[" * 5_000, b'{"a":' * 5_000, b"[]", b"not json"])
def test_a_transactions_json_that_does_not_read_is_no_object(payload: bytes) -> None:
    """A forged block's contract answer or event nested past the parser's stack: read as
    no object (the checks then fail on it), never an exception out of the verifier."""
    assert json_object(payload) == {}
