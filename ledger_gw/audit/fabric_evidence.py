"""Offline audit bundles on Fabric: the events of a claim, proven by the blocks that hold them.

The bundle is the same ``ledger-gw/audit-bundle/v1`` file as on the embedded ledger
(:mod:`ledger_gw.audit.bundle`); only its ``evidence`` differs::

    {"kind": "fabric/blocks-v1",
     "channel": "referrals", "chaincode": "referrals",
     "genesis_block": <base64 block 0: the channel configuration, the trust anchor>,
     "config_blocks": [<base64 configuration blocks after genesis in force at the
                        earliest event's block, oldest first; left out when none>],
     "blocks": [<base64 blocks, consecutive, from the earliest event's block to the head>],
     "policy": {"required": 2, "among": ["AGENCY-A", "AGENCY-B", "AGENCY-C"]},
     "entries": [{"tx_id": <Fabric transaction ID>, "block": <its block number>}],
     "validity": {"checkpoint": <the members' signed note>,
                  "entries": [{"tx_id": ..., "leaf": <index>, "proof": [<base64 hashes>]}]}}

The channel's configuration may change after genesis (a member or orderer added, a
batch size or capability changed); each block names, as LAST_CONFIG, the configuration
block it was ordered under. The bundle carries those configuration blocks whole, and no
other block before the earliest event's: the verifier checks each one's data and its
orderer signatures under the configuration before it (genesis for the first), and that
their config sequence numbers run on from genesis's with none missing; then each event's
block must name the last of them (with those the bundle's blocks hold before it). So an
update is never taken from the bundle on trust, and none can be left out, reordered or
forged.

Each block is carried once however many events it holds. The verifier checks each
event with :func:`ledger_gw.audit.fabric_blocks.verify_evidence` on the blocks from the
event's block to the next event's block (the last event's run reaches the head); the
runs overlap at their ends, so together they prove one hash chain from the earliest
event to the head, each block's orderer signature is checked about once, and a fault
is charged to the events whose run it breaks.

What :func:`verify_fabric` hands to :func:`ledger_gw.audit.verify.verify_bundle` is
what the Merkle kind hands over: the event and the contract's result *as endorsed*
(read from the transaction inside the block, never from a readable copy beside it),
who submitted it (the MSP of the certificate that signed the envelope, checked
against the channel configuration's CAs, and a member of the pinned consortium signing
with a key it listed: ``unknown_organisation`` otherwise), and whether it is proven
included. The contract's rule on who records events, chain replay, actor checks,
document hashes and missing events then run unchanged.

The trust anchor is the genesis block: the auditor pins its header hash
(``genesis_hash``) as it pins a consortium file, and pins the endorsement policy: the
bundle names the policy it was built under, but a forger would name a lax one, so
without a pinned policy the bundle fails (``policy_not_pinned``) and the bundle's
policy only serves to report what each endorsement would satisfy.
A pinned consortium is also checked against the channel: each organisation's CA must
be one of its MSP's root certificates.

A transaction's validation code is not in what the orderers sign: each peer writes
it after validating the block. So a bundle proves an event *valid* only through the
members' signed statement of their peers' codes (``validity``,
:mod:`ledger_gw.audit.fabric_validity`), opened with the pinned consortium's witness
keys and quorum: without it every event fails ``validity_not_attested``, and a code
changed in a block fails ``validity_mismatch``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives import serialization
from google.protobuf.message import DecodeError

from ledger_gw import protos as pb
from ledger_gw.audit.evidence import (
    FABRIC_KIND,
    EvidenceItem,
    EvidenceOptions,
    EvidenceResult,
    Submission,
    b64,
    unb64,
)
from ledger_gw.audit.fabric_blocks import (
    Chain,
    ChannelConfig,
    EndorsementPolicy,
    Found,
    Msp,
    TxIndex,
    block_header_hash,
    channel_msps,
    genesis_config,
    holds_config,
    json_object,
    next_config,
    verify_run,
    verify_transaction,
)
from ledger_gw.audit.fabric_blocks import _identity as msp_identity  # judge certificates alike
from ledger_gw.audit.fabric_validity import Attestation, check_validity, open_validity
from ledger_gw.audit.model import Failure
from ledger_gw.consortium import Consortium
from ledger_gw.errors import AuthenticationError, IntegrityError
from ledger_gw.identity import (
    ROTATION_SLACK,
    check_key_period,
    load_one_certificate,
    verify_low_s,
)
from ledger_gw.transaction import format_time

#: A Fabric event's position in the bundle report: block number x STRIDE + index in the
#: block. Sorting by it is log order; orderers cut blocks far smaller than this.
POSITION_STRIDE = 1_000_000

CHAINCODE_OK = 200

#: verify_evidence names the first fault in a sentence; each kind gets its own code.
_CODES: tuple[tuple[str, str], ...] = (
    ("data does not match", "block_data_mismatch"),
    ("does not follow", "broken_chain"),
    ("does not chain", "broken_chain"),
    ("orderer signature", "bad_orderer_signature"),
    ("does not hold transaction", "not_included"),
    ("not marked valid", "invalid_transaction"),
    ("submitter's signature", "bad_signature"),
    ("endorsement by", "bad_endorsement"),
    ("fewer than", "endorsement_policy"),
    ("genesis", "bad_genesis"),
    ("not in the channel configuration", "unknown_identity"),
    ("not issued by", "unknown_identity"),
)


def failure_code(exc: Exception) -> str:
    """The stable failure code of one of :func:`verify_evidence`'s errors."""
    text = str(exc)
    for needle, code in _CODES:
        if needle in text:
            return code
    return "bad_block_evidence"


# -- the evidence object -----------------------------------------------------------------


def fabric_evidence(
    *,
    channel: str,
    chaincode: str,
    genesis: bytes,
    blocks: Sequence[bytes],
    entries: Sequence[tuple[str, int]],
    policy: EndorsementPolicy | None,
    validity: dict[str, Any] | None = None,
    configs: Sequence[bytes] = (),
) -> dict[str, Any]:
    """The ``evidence`` object of a Fabric bundle (``entries``: tx ID, block number;
    ``validity``: :func:`ledger_gw.audit.fabric_validity.validity_evidence`; ``configs``:
    the configuration blocks after genesis in force at the first of ``blocks``)."""
    out: dict[str, Any] = {
        "kind": FABRIC_KIND,
        "channel": channel,
        "chaincode": chaincode,
        "genesis_block": b64(genesis),
        "blocks": [b64(b) for b in blocks],
        "entries": [{"tx_id": tx_id, "block": number} for tx_id, number in entries],
    }
    if configs:  # absent, as in bundles from before configuration updates were carried
        out["config_blocks"] = [b64(b) for b in configs]
    if policy is not None:
        out["policy"] = {"required": policy.required, "among": sorted(policy.among)}
    if validity is not None:
        out["validity"] = validity
    return out


@dataclass(frozen=True)
class _Entry:
    tx_id: str
    block: int


@dataclass
class _Parsed:
    channel: str
    chaincode: str
    genesis: bytes
    genesis_hash: bytes
    configs: list[Any]  # the configuration blocks carried before ``blocks``, decoded
    blocks: list[Any]  # decoded, once
    numbers: list[int]
    entries: list[_Entry]
    policy: EndorsementPolicy | None
    # What each run of blocks and each block were found to be, once however many
    # entries name them: a bundle of many entries naming one large block must not cost
    # each of them the whole block.
    chains: dict[tuple[int, int], Chain | Exception] = field(default_factory=dict)
    indexes: dict[int, TxIndex] = field(default_factory=dict)
    # The positions in ``blocks`` of configuration blocks, and the configuration in
    # force after the first k configuration updates (carried, then in ``blocks``).
    config_positions: list[int] = field(default_factory=list)
    in_force: list[ChannelConfig | Exception] = field(default_factory=list)


def _policy(raw: object) -> EndorsementPolicy | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("required"), int):
        raise ValueError("evidence.policy must be {required: int, among: [MSP IDs]}")
    among = raw.get("among")
    if not isinstance(among, list):
        raise ValueError("evidence.policy.among must list MSP IDs")
    return EndorsementPolicy(int(raw["required"]), frozenset(str(a) for a in among))


def _decode_blocks(raw: object, name: str) -> list[Any]:
    if not isinstance(raw, list):
        raise ValueError(f"evidence.{name} must be a list")
    try:
        return [pb.common.Block.FromString(unb64(b)) for b in raw]
    except DecodeError as exc:
        raise ValueError(f"a block of evidence.{name} does not decode: {exc}") from exc


def _parse(evidence: Mapping[str, Any]) -> _Parsed:
    """The evidence's parts, or ValueError naming what is malformed."""
    blocks_raw = evidence.get("blocks")
    entries_raw = evidence.get("entries")
    if not isinstance(blocks_raw, list) or not blocks_raw:
        raise ValueError("evidence.blocks must be a non-empty list")
    if not isinstance(entries_raw, list):
        raise ValueError("evidence.entries must be a list")
    blocks = _decode_blocks(blocks_raw, "blocks")
    configs = _decode_blocks(evidence.get("config_blocks", []), "config_blocks")
    genesis = unb64(evidence.get("genesis_block"))
    numbers = [int(b.header.number) for b in blocks]
    entries: list[_Entry] = []
    for raw in entries_raw:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("tx_id"), str)
            or not isinstance(raw.get("block"), int)
        ):
            raise ValueError("each evidence entry needs a tx_id string and a block number")
        entries.append(_Entry(raw["tx_id"], raw["block"]))
    if len(set(entries)) != len(entries):
        raise ValueError("an evidence entry is listed twice")
    return _Parsed(
        channel=str(evidence.get("channel", "")),
        chaincode=str(evidence.get("chaincode", "")),
        genesis=genesis,
        genesis_hash=block_header_hash(pb.common.Block.FromString(genesis).header),
        configs=configs,
        blocks=blocks,
        numbers=numbers,
        entries=entries,
        policy=_policy(evidence.get("policy")),
        config_positions=[i for i, b in enumerate(blocks) if holds_config(b)],
    )


# -- what one transaction says, read from its block ---------------------------------------


@dataclass
class _Tx:
    """One transaction as its block holds it, and the faults found in it."""

    position: int
    tx_id: str
    timestamp: str = ""
    event: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    org: str | None = None
    submitter_problems: list[Failure] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    found: bool = True


def _read_tx(
    block: Any,
    found: Found | None,
    entry: _Entry,
    msps: dict[str, Msp],
    consortium: Consortium,
    chaincode: str,
    *,
    check_endorsements: bool,
) -> _Tx:
    """The event, result and submitter of ``entry`` as its block holds them.

    Runs even when the block's integrity failed, so that a tampered transaction is
    charged with its own fault (the submitter's signature, a forged endorsement, an
    event the endorsers never saw) besides the broken block.
    """
    position = entry.block * POSITION_STRIDE
    if found is None:
        return _Tx(
            position,
            entry.tx_id,
            failures=[
                Failure(
                    "not_included",
                    f"block {block.header.number} does not hold transaction {entry.tx_id}",
                    position,
                )
            ],
            found=False,
        )
    index, envelope, payload = found
    position = int(block.header.number) * POSITION_STRIDE + index
    out = _Tx(position, entry.tx_id)
    channel_header = pb.common.ChannelHeader.FromString(payload.header.channel_header)
    at = channel_header.timestamp.ToDatetime(tzinfo=dt.UTC)
    out.timestamp = format_time(at)
    _check_submitter(out, payload, envelope, msps, consortium, at)
    tx = pb.transaction.Transaction.FromString(payload.data)
    if len(tx.actions) != 1:
        out.failures.append(
            Failure("malformed_entry", "the transaction does not hold one action", position)
        )
        return out
    cap = pb.transaction.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    proposal_hash = hashlib.sha256(
        payload.header.channel_header
        + payload.header.signature_header
        + cap.chaincode_proposal_payload
    ).digest()
    prp = pb.proposal_response.ProposalResponsePayload.FromString(
        cap.action.proposal_response_payload
    )
    if prp.proposal_hash != proposal_hash:
        out.failures.append(
            Failure(
                "proposal_mismatch",
                f"the endorsers signed another proposal than the one transaction "
                f"{entry.tx_id} carries (its event was changed)",
                position,
            )
        )
    action = pb.proposal.ChaincodeAction.FromString(prp.extension)
    if action.chaincode_id.name != chaincode:
        out.failures.append(
            Failure(
                "wrong_chaincode",
                f"transaction {entry.tx_id} ran chaincode {action.chaincode_id.name!r}, "
                f"not {chaincode!r}",
                position,
            )
        )
    if action.response.status != CHAINCODE_OK:
        out.failures.append(
            Failure(
                "invalid_transaction",
                f"the contract answered {action.response.status} to {entry.tx_id}",
                position,
            )
        )
    out.result = json_object(bytes(action.response.payload))
    proposal_payload = pb.proposal.ChaincodeProposalPayload.FromString(
        cap.chaincode_proposal_payload
    )
    spec = pb.chaincode.ChaincodeInvocationSpec.FromString(proposal_payload.input)
    args = [bytes(a) for a in spec.chaincode_spec.input.args]
    if len(args) == 2 and args[0] == b"submit":
        out.event = json_object(args[1])
    if check_endorsements:
        _check_endorsements(out, cap, msps)
    return out


_KEY_CODES = frozenset(
    {"bad_signature", "unlisted_certificate", "retired_certificate", "unknown_organisation"}
)


def _check_submitter(
    out: _Tx,
    payload: Any,
    envelope: Any,
    msps: dict[str, Msp],
    consortium: Consortium,
    at: dt.datetime,
) -> None:
    """The envelope's signature by a certificate its MSP issued, and -- since an MSP
    accepts anything its CA issued -- one the pinned consortium lists as the member's
    signing key at the transaction's time."""
    creator = pb.common.SignatureHeader.FromString(payload.header.signature_header).creator
    try:
        org, key = msp_identity(creator, msps)
        verify_low_s(key, envelope.signature, envelope.payload)
        _check_listed_key(org, creator, consortium, at)
    except AuthenticationError as exc:
        code = exc.code if exc.code in _KEY_CODES else "unknown_identity"
        out.submitter_problems.append(
            Failure(
                code,
                f"the submitter's signature on {out.tx_id} fails: {exc}",
                out.position,
            )
        )
        return
    out.org = org


def _check_listed_key(org: str, creator: bytes, consortium: Consortium, at: dt.datetime) -> None:
    """The channel may hold MSPs the consortium does not (the orderers', another
    channel member's): only a member the auditor pinned submits, with a key it listed."""
    member = consortium.organisations.get(org)
    if member is None:
        raise AuthenticationError(
            f"organisation {org} is not a consortium member", code="unknown_organisation"
        )
    cert = load_one_certificate(
        bytes(pb.identities.SerializedIdentity.FromString(creator).id_bytes)
    )
    check_key_period(org, member.key_periods(cert), at, grace=ROTATION_SLACK)


def _check_endorsements(out: _Tx, cap: Any, msps: dict[str, Msp]) -> None:
    prp = cap.action.proposal_response_payload
    for endorsement in cap.action.endorsements:
        try:
            msp_id, key = msp_identity(endorsement.endorser, msps)
        except AuthenticationError as exc:
            out.failures.append(Failure("unknown_identity", f"an endorser: {exc}", out.position))
            continue
        try:
            verify_low_s(key, endorsement.signature, prp + endorsement.endorser)
        except AuthenticationError:
            out.failures.append(
                Failure(
                    "bad_endorsement",
                    f"the endorsement by {msp_id} of {out.tx_id} does not verify",
                    out.position,
                )
            )


# -- the verifier --------------------------------------------------------------------------


def _consortium_failures(
    consortium: Consortium, msps: dict[str, Msp], where: str = "the channel configuration"
) -> list[Failure]:
    """An organisation named by both the consortium file and the channel must have the
    consortium's CA among its MSP's roots: so pinning either anchors identities."""
    out: list[Failure] = []
    for org_id, org in consortium.organisations.items():
        msp = msps.get(org_id)
        if msp is None:
            continue
        der = org.ca_cert.public_bytes(serialization.Encoding.DER)
        if not any(r.public_bytes(serialization.Encoding.DER) == der for r in msp.roots):
            out.append(
                Failure(
                    "consortium_mismatch",
                    f"{org_id}'s CA in the consortium is not a root of its MSP in {where}",
                )
            )
    return out


def _consortium_roots(config: ChannelConfig, consortium: Consortium) -> ChannelConfig:
    """``config`` with each consortium member's MSP keeping only the root the pinned
    consortium names as its CA: the orderers alone sign an update, so a root one adds
    beside a member's CA must vouch for none of that member's endorsements."""
    msps = dict(config.msps)
    for org_id, org in consortium.organisations.items():
        if org_id in msps:
            msp = msps[org_id]
            msps[org_id] = replace(msp, roots=tuple(r for r in msp.roots if r == org.ca_cert))
    return replace(config, msps=msps)


def _runs(parsed: _Parsed) -> list[tuple[_Entry, int, int] | tuple[_Entry, None, None]]:
    """Per entry (in block order): the slice of blocks its verification covers."""
    first = parsed.numbers[0]
    starts = sorted({e.block for e in parsed.entries})
    out: list[tuple[_Entry, int, int] | tuple[_Entry, None, None]] = []
    for entry in sorted(parsed.entries, key=lambda e: e.block):
        start = entry.block - first
        if not 0 <= start < len(parsed.blocks):
            out.append((entry, None, None))
            continue
        later = bisect.bisect_right(starts, entry.block)
        last = len(parsed.blocks) - 1
        end = min(starts[later] - first, last) if later < len(starts) else last
        out.append((entry, start, end + 1))
    return out


def verify_fabric(
    evidence: Mapping[str, Any], consortium: Consortium, options: EvidenceOptions
) -> EvidenceResult:
    """Every bundled event's block evidence, checked offline against the genesis block.

    Order of the checks, so each tampering gets its own reason: the genesis block (the
    pinned hash, its data hash, the channel's MSPs against the consortium), then per
    event :func:`verify_evidence` on its run of blocks, then the transaction itself
    (submitter signature, the endorsed proposal being the one carried, the chaincode,
    the contract's answer, and -- when the block is broken -- each endorsement).
    """
    out = EvidenceResult()
    try:
        parsed = _parse(evidence)
        genesis = pb.common.Block.FromString(parsed.genesis)
        msps = channel_msps(genesis)
    except (ValueError, DecodeError, IndexError, KeyError) as exc:
        out.failures.append(Failure("malformed_bundle", f"Fabric evidence: {exc}"))
        return out
    g_hash = block_header_hash(genesis.header)
    if options.genesis_hash is not None and g_hash != options.genesis_hash:
        out.failures.append(
            Failure(
                "genesis_mismatch",
                f"the bundle's genesis block {g_hash.hex()} is not the one the auditor pinned "
                f"({options.genesis_hash.hex()})",
            )
        )
    out.failures.extend(_consortium_failures(consortium, msps))
    attestation = open_validity(evidence.get("validity"), consortium, g_hash, options.quorum)
    if attestation.failure is not None:
        out.failures.append(attestation.failure)
    policy = parsed.policy
    if options.endorsement_policy is None:
        out.failures.append(
            Failure(
                "policy_not_pinned",
                "no endorsement policy is pinned, and the bundle's own cannot vouch for "
                "its endorsements: pin one (N:ORG,ORG,...)",
            )
        )
    else:
        policy = EndorsementPolicy(*options.endorsement_policy)
    head = parsed.numbers[-1]
    out.anchor = {
        "kind": FABRIC_KIND,
        "channel": parsed.channel,
        "chaincode": parsed.chaincode,
        "genesis_hash": g_hash.hex(),
        "genesis_pinned": options.genesis_hash is not None,
        "head": head,
        "head_hash": block_header_hash(parsed.blocks[-1].header).hex(),
        "policy": None
        if policy is None
        else {"required": policy.required, "among": sorted(policy.among)},
        "policy_pinned": options.endorsement_policy is not None,
        "validity_witnesses": list(attestation.witnesses),
    }
    if head + 1 < options.min_tree_size:
        out.failures.append(
            Failure(
                "stale_checkpoint",
                f"the blocks end at height {head + 1}, below the height "
                f"{options.min_tree_size} the auditor already trusts",
            )
        )
    for entry, start, stop in _runs(parsed):
        item = _verify_entry(
            parsed, msps, consortium, policy, attestation, entry, start, stop, out.failures
        )
        if item is not None:
            out.items.append(item)
    for config in parsed.in_force[1:]:  # the updates the events were judged under
        if isinstance(config, ChannelConfig):
            where = f"the channel configuration of block {config.block}"
            out.failures.extend(_consortium_failures(consortium, config.msps, where))
    return out


#: What verifying a run of blocks or a transaction may raise: a fault of the evidence.
_FAULTS = (IntegrityError, AuthenticationError, DecodeError, IndexError, ValueError)


def _config_at(parsed: _Parsed, start: int) -> ChannelConfig | Exception:
    """The channel configuration in force at ``blocks[start]``: genesis's, then each
    carried configuration block's, then each one the bundle's blocks hold before it
    (those between two events); each update checked once however many runs follow it."""
    count = len(parsed.configs) + bisect.bisect_left(parsed.config_positions, start)
    while len(parsed.in_force) <= count:
        parsed.in_force.append(_next_in_force(parsed, len(parsed.in_force)))
    return parsed.in_force[count]


def _next_in_force(parsed: _Parsed, k: int) -> ChannelConfig | Exception:
    """The configuration after the first ``k`` updates, or the fault that stops it."""
    try:
        if k == 0:
            return genesis_config(parsed.genesis)[1]
        before = parsed.in_force[k - 1]
        if isinstance(before, Exception):
            return before
        carried = len(parsed.configs)
        update = (
            parsed.configs[k - 1]
            if k <= carried
            else parsed.blocks[parsed.config_positions[k - 1 - carried]]
        )
        return next_config(before, update)
    except _FAULTS as exc:
        return exc


def _verify_entry(
    parsed: _Parsed,
    msps: dict[str, Msp],
    consortium: Consortium,
    policy: EndorsementPolicy | None,
    attestation: Attestation,
    entry: _Entry,
    start: int | None,
    stop: int | None,
    failures: list[Failure],
) -> EvidenceItem | None:
    position = entry.block * POSITION_STRIDE
    if start is None or stop is None:
        failures.append(
            Failure(
                "not_included",
                f"block {entry.block} of transaction {entry.tx_id} is not in the bundle",
                position,
            )
        )
        return None
    config = _config_at(parsed, start)
    if isinstance(config, ChannelConfig):
        config = _consortium_roots(config, consortium)
        msps = config.msps  # the identities in force at the event's block
    if (start, stop) not in parsed.chains:
        try:
            if isinstance(config, Exception):
                raise config
            chain: Chain | Exception = verify_run(
                parsed.genesis_hash, config, parsed.blocks[start:stop]
            )
        except _FAULTS as exc:
            chain = exc  # a damaged block may not even decode: still this event's own fault
        parsed.chains[(start, stop)] = chain
    chain = parsed.chains[(start, stop)]
    block = parsed.blocks[start]
    index = parsed.indexes.setdefault(start, TxIndex(block))
    try:
        found = index.find(entry.tx_id)
    except (DecodeError, IndexError, ValueError) as exc:
        failures.append(Failure("malformed_entry", f"{entry.tx_id}: {exc}", position))
        return None
    fault = chain if isinstance(chain, Exception) else None
    if isinstance(chain, Chain):
        try:
            verify_transaction(chain, entry.tx_id, found, policy)
        except _FAULTS as exc:
            fault = exc
    try:
        tx = _read_tx(
            block,
            found,
            entry,
            msps,
            consortium,
            parsed.chaincode,
            check_endorsements=fault is not None,
        )
    except (DecodeError, IndexError, ValueError) as exc:
        failures.append(Failure("malformed_entry", f"{entry.tx_id}: {exc}", position))
        return None
    if not tx.found:  # nothing to report on but its absence (then missing_event)
        failures.extend(tx.failures)
        return None
    own = {f.code for f in (*tx.failures, *tx.submitter_problems)}
    if fault is not None and failure_code(fault) not in own:
        failures.append(Failure(failure_code(fault), f"{entry.tx_id}: {fault}", tx.position, None))
    failures.extend(tx.failures)
    unattested = attestation.failure is not None
    if not unattested:
        mismatch = check_validity(attestation, block, tx.position % POSITION_STRIDE, tx.position)
        if mismatch is not None:
            failures.append(mismatch)
            unattested = True
    included = fault is None and not unattested and not tx.failures and not tx.submitter_problems
    event_id = str(tx.event.get("event_id")) if tx.event else None
    problems = tuple(
        Failure(p.code, p.message, p.position, event_id) for p in tx.submitter_problems
    )
    return EvidenceItem(
        tx.position,
        None,
        tx.result,
        included,
        Submission(tx.tx_id, tx.timestamp, tx.event, tx.org, problems),
    )
