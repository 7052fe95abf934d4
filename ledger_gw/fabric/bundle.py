"""Offline audit bundles on Fabric: the claimed events and the blocks that prove them.

The evidence format and its verifier are :mod:`ledger_gw.audit.fabric_evidence`; this
module only reads the events and blocks from a member's peer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger_gw import protos as pb
from ledger_gw.audit import bundle as embedded_bundle
from ledger_gw.audit.errors import AuditError
from ledger_gw.audit.fabric_blocks import EndorsementPolicy
from ledger_gw.audit.fabric_evidence import _find, _json_object, fabric_evidence
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.identity import Signer


def _records(
    client: OrgClient, kind: str, subject: str | None, pid: str | None
) -> list[dict[str, Any]]:
    """The contract's event records of the claim, read through a member's own client."""
    if subject is None:
        raise AuditError(f"a {kind} bundle needs a subject ID")
    if kind == "referral_chain":
        chain = client.referral_chain(subject)["chain"]
        person = pid or str(chain[0]["pid"])
        history = client.history(person, "referral")["events"]
        events = [r["event"] for r in history]
        wanted = set(embedded_bundle.referral_chain_ids(events, subject))
        return [r for r in history if r["event"].get("referral_id") in wanted]
    if pid is None:
        raise AuditError("on Fabric an entitlement bundle needs the person's pid (--pid)")
    history = client.history(pid, "service_continuity")["events"]
    return [r for r in history if r["event"].get("entitlement_id") == subject]


def build_fabric_bundle(
    ledger: FabricLedger,
    signer: Signer,
    consortium: Consortium,
    *,
    kind: str,
    subject: str | None = None,
    tx_ids: Sequence[str] = (),
    pid: str | None = None,
    policy: EndorsementPolicy | None = None,
) -> dict[str, Any]:
    """Collect the claimed events and the blocks that prove them, from ``signer``'s peer.

    The events are found by querying the contract as ``signer`` (an auditor sees every
    record); the blocks are read through the same organisation's peer, from the
    earliest event's block to the head, with the genesis block. The claim lists the
    events in log order (block, then position in the block).
    """
    if kind not in embedded_bundle.CLAIM_KINDS:
        kinds = ", ".join(embedded_bundle.CLAIM_KINDS)
        raise AuditError(f"unknown claim kind {kind!r}; use one of {kinds}")
    org_id = signer.org_id
    if kind == "events":
        wanted = list(dict.fromkeys(tx_ids))
    else:
        wanted = [str(r["tx_id"]) for r in _records(OrgClient(ledger, signer), kind, subject, pid)]
    if not wanted:
        raise AuditError("no transaction matches the claim", code="not_found")
    first_blocks = {tx_id: ledger.block_of(tx_id, org_id) for tx_id in wanted}
    numbers = {
        tx_id: int(pb.common.Block.FromString(raw).header.number)
        for tx_id, raw in first_blocks.items()
    }
    start = min(numbers.values())
    head = ledger.height(org_id) - 1
    by_number = {numbers[t]: raw for t, raw in first_blocks.items()}
    blocks = [by_number.get(n) or ledger.block(n, org_id) for n in range(start, head + 1)]
    ordered: list[tuple[int, int, str, str]] = []
    for tx_id in wanted:
        block = pb.common.Block.FromString(by_number[numbers[tx_id]])
        found = _find(block, tx_id)
        if found is None:  # the peer answered with a block that lacks it
            raise AuditError(f"block {numbers[tx_id]} does not hold {tx_id}")
        index, _, payload = found
        tx = pb.transaction.Transaction.FromString(payload.data)
        cap = pb.transaction.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        spec = pb.chaincode.ChaincodeInvocationSpec.FromString(
            pb.proposal.ChaincodeProposalPayload.FromString(cap.chaincode_proposal_payload).input
        )
        args = spec.chaincode_spec.input.args
        event = _json_object(bytes(args[1])) if len(args) == 2 else {}
        ordered.append((numbers[tx_id], index, tx_id, str(event.get("event_id"))))
    ordered.sort()
    claim: dict[str, Any] = {"kind": kind, "events": [eid for *_, eid in ordered]}
    if subject is not None and kind != "events":
        claim["subject"] = subject
    evidence = fabric_evidence(
        channel=ledger.profile.channel,
        chaincode=ledger.profile.chaincode,
        genesis=ledger.block(0, org_id),
        blocks=blocks,
        entries=[(tx_id, number) for number, _, tx_id, _ in ordered],
        policy=policy or ledger.profile.policy,
    )
    return {
        "format": embedded_bundle.BUNDLE_FORMAT,
        "claim": claim,
        "consortium": consortium.to_dict(),
        "evidence": evidence,
    }
