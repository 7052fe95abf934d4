"""Fabric bundles offline: blocks made here (tests/support/fabric_blocks.py), no network.

The same referral chain as the embedded scenario, built into a Fabric bundle by the
one `build_bundle` over the Fabric verifiable log (`FabricLog`) on a stand-in for the
peer, then verified by the one `verify_bundle`; each tampering fails with its own code.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import itertools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from ledger_gw import protos as pb
from ledger_gw.audit import fabric_blocks as fb_blocks
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.fabric_blocks import EndorsementPolicy, block_header_hash
from ledger_gw.audit.fabric_evidence import POSITION_STRIDE
from ledger_gw.audit.verify import BundleReport, verify_bundle
from ledger_gw.cli import cli
from ledger_gw.consortium import Consortium
from ledger_gw.demo.consortium import DEMO
from ledger_gw.embedded.verifiable import EmbeddedLog
from ledger_gw.errors import IntegrityError, NotFoundError, RejectedError
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.validity import Attester, PeerAttester, PeerTree
from ledger_gw.fabric.verifiable import FabricLog
from ledger_gw.identity import KeyPeriod, certificate_fingerprint, load_certificate
from ledger_gw.interfaces import reveal_all
from ledger_gw.log import merkle
from ledger_gw.reports.accountability import ReportError, ReportQuery, report_from_log
from ledger_gw.reports.signing import sign_report, verify_report
from ledger_gw.transaction import SignedTransaction, certificate_ref
from ledger_gw.workspace import Workspace
from tests.integration.audit.conftest import DOCUMENT, SALT, Scenario
from tests.support import events as ev
from tests.support import fabric_blocks as fb
from tests.support.witnesses import TestWitnesses

Bundle = dict[str, Any]
AGENCIES = frozenset({"AGENCY-A", "AGENCY-B", "AGENCY-C"})
POLICY = EndorsementPolicy(2, AGENCIES)


@dataclass
class _Profile:
    channel: str = fb.CHANNEL
    chaincode: str = fb.CHAINCODE
    policy: EndorsementPolicy = POLICY
    validity_keys: dict[str, Path] = field(default_factory=dict)
    validity_urls: dict[str, str] = field(default_factory=dict)


class StandInPeer:
    """What `FabricLog` asks of a FabricLedger: qscc blocks, and the profile."""

    def __init__(self, channel: fb.Channel, records: list[dict[str, Any]]) -> None:
        self.profile = _Profile()
        self.channel = channel
        self.records = records
        self.where: dict[str, int] = {}

    def evaluate(self, tx: SignedTransaction) -> Any:
        function, args = tx.proposal.function, tx.proposal.args
        if function == "referral_chain":
            created = next(r for r in self.records if r["event"].get("referral_id") == args[0])
            return {"chain": [{"referral_id": args[0], "pid": created["pid"]}]}
        assert function == "history"
        return {"events": [r for r in self.records if r["pid"] == args[0]]}

    def block_of(self, tx_id: str, org_id: str | None = None) -> bytes:
        return self.channel.block(self.where[tx_id])

    def block(self, number: int, org_id: str | None = None) -> bytes:
        return self.channel.block(number)

    def height(self, org_id: str | None = None) -> int:
        return len(self.channel.blocks) + 1


@dataclass
class FabricScenario:
    peer: StandInPeer
    ws: Workspace
    bundle: Bundle
    genesis_hash: bytes
    attesters: list[Attester]

    def log(self, peer: StandInPeer | None = None) -> FabricLog:
        """The auditor's view of the channel, the members' witnesses attesting validity
        from their own (here: the one stand-in) peer."""
        return FabricLog(cast(FabricLedger, peer or self.peer), "AUDITOR-X", self.attesters)


def member_attesters(peer: StandInPeer, witnesses: TestWitnesses) -> list[Attester]:
    """Each member that runs a witness, signing with its witness key what its peer holds."""
    return [
        PeerAttester(cast(FabricLedger, peer), org, home.signer())
        for org, home in witnesses.homes.items()
    ]


@pytest.fixture(scope="module")
def fabric(scenario: Scenario, audit_witnesses: TestWitnesses) -> FabricScenario:
    """Every event of the embedded log, in the same order, on a Fabric channel: the first
    two share a block, a block of another person's event sits in between."""
    ws = scenario.ws
    channel = fb.make_channel(ws)
    by_cert = {certificate_ref(ws.signer(o).cert_pem): o for o in ws.consortium.organisations}
    records: list[dict[str, Any]] = []
    peer = StandInPeer(channel, records)
    pending: list[fb.FabricTx] = []
    for _, data in scenario.ledger.log.entries():
        entry = json.loads(data)
        proposal = entry["tx"]["proposal"]
        event, when = proposal["args"][0], dt.datetime.fromisoformat(proposal["timestamp"])
        result = (
            json.loads(entry["result"]) if isinstance(entry["result"], str) else entry["result"]
        )
        tx = fb.endorser_tx(channel, by_cert[proposal["creator"]], event, result, when)
        pending.append(tx)
        records.append({"event": event, "tx_id": tx.tx_id, "pid": result.get("pid")})
        if len(pending) >= 2 or len(records) > 2:
            number = channel.order([t.envelope for t in pending])
            peer.where.update({t.tx_id: number for t in pending})
            pending = []
            if len(records) == 4:
                other = fb.endorser_tx(channel, "AGENCY-C", ev.consent_granted(ev.pid()), {}, when)
                channel.order([other.envelope])
    attesters = member_attesters(peer, audit_witnesses)
    bundle = build_bundle(
        FabricLog(cast(FabricLedger, peer), "AUDITOR-X", attesters),
        ws.consortium,
        kind="referral_chain",
        subject=scenario.onward_referral,
    )
    pinned = block_header_hash(pb.common.Block.FromString(channel.genesis).header)
    return FabricScenario(peer, ws, bundle, pinned, attesters)


def pinned(
    f: FabricScenario,
    bundle: Bundle,
    genesis_hash: bytes | None = None,
    endorsement_policy: tuple[int, frozenset[str]] | None = (2, AGENCIES),
) -> BundleReport:
    """The verifier with what an auditor pins: the consortium file and the policy."""
    return verify_bundle(
        bundle,
        trusted_consortium=f.ws.consortium,
        genesis_hash=genesis_hash,
        endorsement_policy=endorsement_policy,
    )


def _copy(f: FabricScenario) -> Bundle:
    return copy.deepcopy(f.bundle)


def _block_index(bundle: Bundle, tx_id: str) -> int:
    entry = next(e for e in bundle["evidence"]["entries"] if e["tx_id"] == tx_id)
    first = pb.common.Block.FromString(base64.b64decode(bundle["evidence"]["blocks"][0]))
    return int(entry["block"]) - int(first.header.number)


def _tx_of(f: FabricScenario, event_type: str, nth: int = 0) -> str:
    return str([r for r in f.peer.records if r["event"]["type"] == event_type][nth]["tx_id"])


def _rewrite(bundle: Bundle, tx_id: str, change: Any) -> None:
    blocks = bundle["evidence"]["blocks"]
    i = _block_index(bundle, tx_id)
    blocks[i] = base64.b64encode(fb.rewrite_tx(base64.b64decode(blocks[i]), tx_id, change)).decode()


def test_a_members_checkpoints_and_proofs_come_from_what_it_kept_of_the_blocks(
    fabric: FabricScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone may ask a member's gateway for its statement at a height: the member keeps
    each height's root as it reads the blocks, and hashes no leaf again to answer; its
    proofs hash the roots of whole tiles it kept, and are the whole tree's."""
    peer = PeerTree(cast(FabricLedger, fabric.peer), "AGENCY-A")
    top = fabric.peer.height()
    for height in range(1, top):
        assert peer.checkpoint(height) == peer.tree(height).checkpoint()
    assert peer.checkpoint(top - 1).size > peer.checkpoint(0).size == 0
    tiled = PeerTree(cast(FabricLedger, fabric.peer), "AGENCY-A", tile_level=1)
    whole = peer.tree(top - 1)
    for height in (top - 1, top // 2):  # the tiles it keeps serve lower heights too
        tree, leaves = tiled.tree(height), len(peer.tree(height).leaves())
        assert len(tree.tiles) == leaves // 2
        assert [tree.proof(n) for n in range(leaves)] == [
            peer.tree(height).proof(n) for n in range(leaves)
        ]
        assert tree.consistency(1, leaves) == whole.consistency(1, leaves)
    attester = fabric.attesters[0]
    for height in range(top):
        attester.statement(height)
    hashed: list[tuple[bytes, bytes]] = []

    def node_hash(left: bytes, right: bytes) -> bytes:
        hashed.append((left, right))
        return b""

    monkeypatch.setattr(merkle, "node_hash", node_hash)
    for height in range(top):
        attester.statement(height)
    assert hashed == []


def test_good_fabric_bundle_verifies(scenario: Scenario, fabric: FabricScenario) -> None:
    report = verify_bundle(
        json.dumps(fabric.bundle),
        trusted_consortium=scenario.ws.consortium,
        genesis_hash=fabric.genesis_hash,
        endorsement_policy=(2, AGENCIES),
        documents={scenario.root_referral: (DOCUMENT, SALT)},
    )
    assert report.ok, report.failures
    assert report.trust_anchor == "pinned"
    assert report.anchor["kind"] == "fabric/blocks-v1"
    assert report.anchor["genesis_pinned"]
    assert report.anchor["policy_pinned"]
    assert [s.type for s in report.steps] == [
        "referral.created",
        "referral.accepted",
        "referral.created",
        "referral.accepted",
        "referral.completed",
        "referral.completed",
    ]
    assert [s.org for s in report.steps] == [
        "AGENCY-A",
        "AGENCY-B",
        "AGENCY-B",
        "AGENCY-C",
        "AGENCY-C",
        "AGENCY-B",
    ]
    assert all(e.included and e.signature_ok for e in report.events)
    assert all(s.ok for s in report.steps)
    names = {c.name for c in report.steps[0].checks}
    assert names == {"signature", "inclusion", "actor", "transition", "result", "document_hash"}
    # the blocks of the chain are carried once, from the first event's to the head
    assert report.anchor["head"] == len(fabric.peer.channel.blocks)
    assert (
        report.events[0].position // POSITION_STRIDE
        == fabric.bundle["evidence"]["entries"][0]["block"]
    )


def test_changed_event_field(fabric: FabricScenario) -> None:
    bundle = _copy(fabric)
    tx_id = _tx_of(fabric, "referral.created", 1)
    _rewrite(bundle, tx_id, lambda env: fb.change_event(env, "to_org", "AGENCY-A"))
    codes = pinned(fabric, bundle, genesis_hash=fabric.genesis_hash).codes
    assert {"proposal_mismatch", "bad_signature", "block_data_mismatch"} <= codes
    assert "bad_endorsement" not in codes


def test_forged_endorsement_signature(fabric: FabricScenario) -> None:
    bundle = _copy(fabric)
    tx_id = _tx_of(fabric, "referral.accepted", 1)
    _rewrite(bundle, tx_id, fb.forge_endorsement)
    report = pinned(fabric, bundle, genesis_hash=fabric.genesis_hash)
    assert "bad_endorsement" in report.codes
    assert "proposal_mismatch" not in report.codes
    assert not next(e for e in report.events if e.tx_id == tx_id).included


def test_dropped_event(fabric: FabricScenario) -> None:
    bundle = _copy(fabric)
    tx_id = _tx_of(fabric, "referral.accepted", 1)
    bundle["evidence"]["entries"] = [
        e for e in bundle["evidence"]["entries"] if e["tx_id"] != tx_id
    ]
    codes = pinned(fabric, bundle, genesis_hash=fabric.genesis_hash).codes
    assert {"missing_event", "illegal_transition"} <= codes
    assert "broken_chain" not in codes


def test_swapped_block(fabric: FabricScenario) -> None:
    bundle = _copy(fabric)
    blocks = bundle["evidence"]["blocks"]
    i = _block_index(bundle, _tx_of(fabric, "referral.accepted", 1))
    blocks[i], blocks[i + 1] = blocks[i + 1], blocks[i]
    codes = pinned(fabric, bundle, genesis_hash=fabric.genesis_hash).codes
    assert "broken_chain" in codes
    assert not codes & {"proposal_mismatch", "bad_endorsement", "bad_signature"}


def test_other_genesis_and_policy(fabric: FabricScenario) -> None:
    assert pinned(fabric, fabric.bundle, genesis_hash=bytes(32)).codes == {"genesis_mismatch"}
    strict = pinned(fabric, fabric.bundle, endorsement_policy=(3, AGENCIES)).codes
    assert strict == {"endorsement_policy"}


def test_the_bundles_own_policy_never_stands_in_for_a_pinned_one(fabric: FabricScenario) -> None:
    lax = _copy(fabric)
    lax["evidence"]["policy"] = {"required": 0, "among": []}
    report = pinned(fabric, lax, genesis_hash=fabric.genesis_hash, endorsement_policy=None)
    assert report.codes == {"policy_not_pinned"}
    assert not report.anchor["policy_pinned"]
    assert pinned(fabric, lax, genesis_hash=fabric.genesis_hash).ok  # the pin decides


def test_pinned_consortium_must_match_the_channel(
    fabric: FabricScenario, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = Workspace.create(tmp_path_factory.mktemp("other-fabric") / "ws", DEMO)
    codes = verify_bundle(fabric.bundle, trusted_consortium=other.consortium).codes
    assert "consortium_mismatch" in codes


def test_cli_verifies_a_fabric_bundle_offline(fabric: FabricScenario, tmp_path: Path) -> None:
    path = tmp_path / "fabric-bundle.json"
    path.write_text(json.dumps(fabric.bundle))
    runner = CliRunner()
    consortium = ["--consortium", str(fabric.ws.root / "consortium.json")]
    policy = ["--policy", "2:" + ",".join(AGENCIES)]
    pin = [*consortium, "--genesis-hash", fabric.genesis_hash.hex(), *policy]
    good = runner.invoke(cli, ["audit", "verify", str(path), *pin])
    assert good.exit_code == 0, good.output
    assert json.loads(good.output)["anchor"]["kind"] == "fabric/blocks-v1"
    bad = runner.invoke(
        cli, ["audit", "verify", str(path), *consortium, *policy, "--genesis-hash", "00" * 32]
    )
    assert bad.exit_code == 1
    assert "genesis_mismatch" in str(bad.exception)
    unpinned = runner.invoke(cli, ["audit", "verify", str(path), *consortium])
    assert unpinned.exit_code == 1
    assert "policy_not_pinned" in str(unpinned.exception)


def test_events_bundle_by_transaction_ids(fabric: FabricScenario) -> None:
    """Kind "events": the named transactions only, with the blocks from theirs to the head."""
    tx_ids = [_tx_of(fabric, "referral.accepted", 0), _tx_of(fabric, "referral.created", 0)]
    bundle = build_bundle(
        fabric.log(),
        fabric.ws.consortium,
        kind="events",
        tx_ids=tx_ids,
    )
    report = pinned(fabric, bundle, genesis_hash=fabric.genesis_hash)
    assert report.ok, report.failures
    assert [e.tx_id for e in report.events] == tx_ids[::-1]  # log order, not request order


def test_malformed_fabric_evidence(fabric: FabricScenario) -> None:
    bundle = _copy(fabric)
    bundle["evidence"]["genesis_block"] = "not base64!"
    assert "malformed_bundle" in pinned(fabric, bundle).codes
    bundle = _copy(fabric)
    bundle["evidence"]["blocks"][-1] = base64.b64encode(b"\xff\xff not a block").decode()
    assert "malformed_bundle" in pinned(fabric, bundle).codes


# -- the Fabric verifiable log itself ------------------------------------------------------


def _log(f: FabricScenario) -> FabricLog:
    return f.log()


def test_records_are_the_valid_transactions_read_from_the_blocks(
    scenario: Scenario, fabric: FabricScenario
) -> None:
    log = _log(fabric)
    anchor = log.anchor()
    assert anchor.size == len(fabric.peer.channel.blocks) + 1
    head = pb.common.Block.FromString(fabric.peer.channel.head())
    assert anchor.summary == {
        "channel": fb.CHANNEL,
        "height": anchor.size,
        "head_hash": block_header_hash(head.header).hex(),
    }
    records = list(log.records(anchor))
    embedded = [json.loads(d) for _, d in scenario.ledger.log.entries()]
    mine = [r for r in records if r.tx_id in fabric.peer.where]
    assert [r.event for r in mine] == [e["tx"]["proposal"]["args"][0] for e in embedded]
    assert [r.timestamp for r in mine] == [e["tx"]["proposal"]["timestamp"] for e in embedded]
    embedded_log = EmbeddedLog.of(scenario.ledger)
    same = list(embedded_log.records(embedded_log.anchor()))
    assert [(r.org, r.result) for r in mine] == [(r.org, r.result) for r in same]
    assert {r.org for r in mine} >= {"AGENCY-A", "AGENCY-B", "AGENCY-C"}
    assert all(r.position // POSITION_STRIDE == fabric.peer.where[r.tx_id] for r in mine)
    assert [r.position for r in records] == sorted(r.position for r in records)


def test_an_invalid_transaction_is_no_record(fabric: FabricScenario) -> None:
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, fabric.peer.records)
    when = dt.datetime.now(dt.UTC)
    good = fb.endorser_tx(channel, "AGENCY-A", ev.consent_granted(ev.pid()), {}, when)
    bad = fb.endorser_tx(channel, "AGENCY-B", ev.consent_granted(ev.pid()), {}, when)
    number = channel.order([good.envelope, bad.envelope], flags=bytes([0, 11]))  # MVCC
    log = FabricLog(cast(FabricLedger, peer), "AUDITOR-X")
    last = [r for r in log.records(log.anchor()) if r.position // POSITION_STRIDE == number]
    assert [(r.tx_id, r.org) for r in last] == [(good.tx_id, "AGENCY-A")]


def test_records_refuse_a_history_that_does_not_reach_the_anchor(fabric: FabricScenario) -> None:
    log = _log(fabric)
    anchor = log.anchor()
    channel = copy.deepcopy(fabric.peer.channel)
    channel.blocks[1], channel.blocks[2] = channel.blocks[2], channel.blocks[1]
    swapped = FabricLog(cast(FabricLedger, StandInPeer(channel, [])), "AUDITOR-X")
    with pytest.raises(IntegrityError, match="chain"):
        list(swapped.records(anchor))


def test_inclusion_consistency_and_checkpoint_on_fabric(fabric: FabricScenario) -> None:
    log = _log(fabric)
    tx_id = _tx_of(fabric, "referral.created", 0)  # a chain's first event replays alone
    proof = log.inclusion(None, tx_id, None, reveal_all)
    assert proof["block"] == fabric.peer.where[tx_id]
    assert proof["evidence"]["kind"] == "fabric/blocks-v1"
    bundle = {**fabric.bundle, "claim": {"kind": "events", "events": [_event_id(fabric, tx_id)]}}
    bundle["evidence"] = proof["evidence"]
    assert pinned(fabric, bundle, genesis_hash=fabric.genesis_hash).codes == set()
    assert log.inclusion(proof["index"], None, None, reveal_all)["tx_id"] == tx_id
    withheld = log.inclusion(None, tx_id, None, lambda record: False)
    assert "evidence" not in withheld  # its blocks hold the event
    assert [h["number"] for h in withheld["headers"]] == list(range(proof["block"], log.size()))
    consistency = log.consistency(2, None)
    headers = consistency["headers"]
    assert [h["number"] for h in headers] == list(range(1, log.size()))
    assert all(b["previous_hash"] == a["hash"] for a, b in itertools.pairwise(headers))
    checkpoint = log.checkpoint(None)
    assert checkpoint["head_hash"] == headers[-1]["hash"] == log.anchor().summary["head_hash"]
    assert base64.b64decode(checkpoint["head_block"]) == fabric.peer.channel.head()
    with pytest.raises(NotFoundError):
        log.checkpoint(log.size() + 1)


def test_no_witness_cosigns_on_fabric(fabric: FabricScenario) -> None:
    with pytest.raises(RejectedError) as caught:
        _log(fabric).cosign(None)
    assert (caught.value.kind, caught.value.code) == ("conflict", "witnesses_not_applicable")


def test_a_report_on_fabric_is_anchored_to_the_head_and_recomputes(
    scenario: Scenario, fabric: FabricScenario
) -> None:
    log = _log(fabric)
    report = report_from_log(log, ReportQuery(k=1))
    assert report["anchor"] == log.anchor().summary
    embedded = report_from_log(EmbeddedLog.of(scenario.ledger), ReportQuery(k=1))
    assert report["summary"] == embedded["summary"]
    created = [r for r in fabric.peer.records if r["event"]["type"] == "referral.created"]
    assert report["summary"]["referrals_made"] == len(created) > 0
    signed = sign_report(report, fabric.ws.signer("DONOR-Y"))
    assert verify_report(signed, fabric.ws.consortium, log) == "DONOR-Y"
    moved = sign_report(
        {**report, "anchor": {**report["anchor"], "head_hash": "00" * 32}},
        fabric.ws.signer("DONOR-Y"),
    )
    with pytest.raises(ReportError, match="differs"):
        verify_report(moved, fabric.ws.consortium, log)


def _event_id(f: FabricScenario, tx_id: str) -> str:
    return str(next(r for r in f.peer.records if r["tx_id"] == tx_id)["event"]["event_id"])


def test_a_block_signed_by_a_member_proves_nothing(
    scenario: Scenario, fabric: FabricScenario
) -> None:
    """An agency has an entitlement of 9999.00 endorsed, never submits it, wraps it in a
    block numbered as the next one and signs that block with its own key."""
    channel = fabric.peer.channel
    head = pb.common.Block.FromString(channel.blocks[-1])
    event = ev.entitlement_granted(ev.pid(), amount="9999.00")
    when = dt.datetime.now(dt.UTC)
    forged_tx = fb.endorser_tx(channel, "AGENCY-A", event, {"flagged": []}, when)
    number = int(head.header.number) + 1
    forged = fb.make_block(
        number,
        block_header_hash(head.header),
        [forged_tx.envelope],
        channel.signers["AGENCY-A"],
        b"\x00",
    )
    bundle = _copy(fabric)
    bundle["evidence"]["blocks"].append(base64.b64encode(forged).decode())
    bundle["evidence"]["entries"].append({"tx_id": forged_tx.tx_id, "block": number})
    bundle["claim"] = {"kind": "events", "events": [event["event_id"]]}
    bundle["evidence"]["entries"] = bundle["evidence"]["entries"][-1:]
    report = verify_bundle(
        bundle,
        trusted_consortium=scenario.ws.consortium,
        genesis_hash=fabric.genesis_hash,
        endorsement_policy=(2, AGENCIES),
    )
    assert not report.ok
    assert "bad_orderer_signature" in report.codes
    assert not any(e.included for e in report.events)


def _with_key_periods(f: FabricScenario, org_id: str, *periods: KeyPeriod) -> Consortium:
    """The auditor's consortium file with another list of `org_id`'s signing keys."""
    c = f.ws.consortium
    org = replace(c.organisations[org_id], signing_keys=periods)
    return replace(c, organisations={**c.organisations, org_id: org})


def test_a_certificate_the_members_retired_or_never_listed_signs_nothing(
    fabric: FabricScenario,
) -> None:
    """Fabric's MSP accepts any certificate the member's CA issued; the pinned
    consortium's key list decides which of them signed for the member, and when."""
    cert = load_certificate(fabric.ws.signer("AGENCY-A").cert_pem)
    mine = certificate_fingerprint(cert)
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    def codes(consortium: Consortium) -> set[str]:
        bundle = {**_copy(fabric), "consortium": consortium.to_dict()}  # as built after it
        return verify_bundle(
            bundle,
            trusted_consortium=consortium,
            genesis_hash=fabric.genesis_hash,
            endorsement_policy=(2, AGENCIES),
        ).codes

    retired = _with_key_periods(
        fabric,
        "AGENCY-A",
        KeyPeriod(mine, epoch, epoch + dt.timedelta(days=1)),
        KeyPeriod("00" * 32, epoch + dt.timedelta(days=1)),
    )
    assert codes(retired) == {"retired_certificate"}
    unlisted = _with_key_periods(fabric, "AGENCY-A", KeyPeriod("00" * 32, epoch))
    assert codes(unlisted) == {"unlisted_certificate"}
    assert codes(_with_key_periods(fabric, "AGENCY-A", KeyPeriod(mine, epoch))) == set()


def test_many_entries_naming_one_block_check_it_once(
    fabric: FabricScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few bytes an entry, each naming the same (large) block: were the block's run
    checked again for each, a small bundle would cost minutes of a gateway's CPU."""
    bundle = _copy(fabric)
    entries = bundle["evidence"]["entries"]
    block = entries[0]["block"]
    entries += [{"tx_id": f"absent-{i}", "block": block} for i in range(500)]
    checked = 0
    check_signature = fb_blocks._verify_orderer_signature

    def counted(*args: Any) -> None:
        nonlocal checked
        checked += 1
        check_signature(*args)

    monkeypatch.setattr(fb_blocks, "_verify_orderer_signature", counted)
    report = pinned(fabric, bundle, genesis_hash=fabric.genesis_hash)
    assert "not_included" in report.codes
    assert checked <= 2 * len(bundle["evidence"]["blocks"])  # each run of blocks once


def test_an_entry_listed_twice_is_a_malformed_bundle(fabric: FabricScenario) -> None:
    bundle = _copy(fabric)
    entries = bundle["evidence"]["entries"]
    entries.append(dict(entries[0]))
    report = pinned(fabric, bundle, genesis_hash=fabric.genesis_hash)
    assert "malformed_bundle" in report.codes
    assert not report.ok
