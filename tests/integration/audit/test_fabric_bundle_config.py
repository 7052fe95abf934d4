"""Fabric bundles after channel configuration updates (blocks made here, no network).

Each block names, as LAST_CONFIG, the configuration block it was ordered under; after
an update (an orderer organisation added, a batch size changed) that is no longer the
genesis block. A bundle carries those configuration blocks whole, and the verifier
takes none of them on trust: each must be signed by the orderers the configuration
before it names, carry the next config sequence, and be the one the event's block
names. The pinned genesis block stays the only trust root.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest

from ledger_gw import protos as pb
from ledger_gw.audit.bundle import build_bundle
from ledger_gw.audit.fabric_blocks import (
    Evidence,
    block_header_hash,
    compact,
    configs_in_force,
    verify_evidence,
)
from ledger_gw.audit.verify import BundleReport
from ledger_gw.errors import AuditError, IntegrityError
from ledger_gw.fabric.gateway import FabricLedger
from ledger_gw.fabric.proposal import FabricSigner
from ledger_gw.fabric.verifiable import FabricLog
from ledger_gw.identity import cert_pem, issue_ca, issue_member
from tests.integration.audit.test_bundle_mutations import mutations
from tests.integration.audit.test_fabric_bundle import (
    FabricScenario,
    StandInPeer,
    member_attesters,
    pinned,
)
from tests.integration.audit.test_fabric_bundle import fabric as fabric  # the fixture
from tests.support import events as ev
from tests.support import fabric_blocks as fb
from tests.support.witnesses import TestWitnesses

__all__ = ["fabric"]

Bundle = dict[str, Any]
Change = Callable[[Any], None]


@pytest.fixture(scope="module")
def new_orderer() -> tuple[str, FabricSigner]:
    """A second orderer organisation's CA (PEM) and orderer."""
    ca_key, ca_cert = issue_ca("ORDERER-2")
    key, cert = issue_member(ca_key, ca_cert, "ORDERER-2", "agency", "orderer2.example")
    return cert_pem(ca_cert), FabricSigner("ORDERER-2", cert_pem(cert), key)


def _add_orderer(ca_pem: str) -> Change:
    def change(config: Any) -> None:
        orderer = config.channel_group.groups["Orderer"]
        orderer.groups["ORDERER-2"].CopyFrom(fb.msp_group("ORDERER-2", ca_pem))

    return change


def _batch_size(config: Any) -> None:
    config.channel_group.groups["Orderer"].values["BatchSize"].value = b"\x08\x0a"


@dataclass
class Updated:
    """A channel after configuration updates, and one event bundled after them."""

    channel: fb.Channel
    peer: StandInPeer
    configs: list[int]  # the configuration blocks' numbers
    tx_id: str
    block: int  # the event's
    bundle: Bundle


def _event(channel: fb.Channel, peer: StandInPeer) -> tuple[str, int]:
    event = ev.referral_created(ev.pid())
    result = {"referral_id": event["referral_id"], "state": "created"}
    tx = fb.endorser_tx(channel, "AGENCY-A", event, result, dt.datetime.now(dt.UTC))
    number = channel.order([tx.envelope])
    peer.where[tx.tx_id] = number
    peer.records.append({"event": event, "tx_id": tx.tx_id, "pid": event["pid"]})
    return tx.tx_id, number


def _bundle(peer: StandInPeer, f: FabricScenario, w: TestWitnesses, tx_ids: list[str]) -> Bundle:
    log = FabricLog(cast(FabricLedger, peer), "AUDITOR-X", member_attesters(peer, w))
    return build_bundle(log, f.ws.consortium, kind="events", tx_ids=tx_ids)


def _updated(
    f: FabricScenario,
    w: TestWitnesses,
    new_orderer: tuple[str, FabricSigner],
    updates: int,
    *,
    step: int = 1,
    after: Callable[[fb.Channel], None] | None = None,
) -> Updated:
    """``updates`` configuration updates (the first adds ORDERER-2, which orders every
    block after it; the second changes the batch size and steps the sequence by
    ``step``), a block of another transaction, then the event, then ``after``."""
    channel = copy.deepcopy(f.peer.channel)
    peer = StandInPeer(channel, [])
    ca_pem, orderer = new_orderer
    channel.signers["ORDERER-2"] = orderer
    configs = []
    for n in range(updates):
        configs.append(
            channel.update_config(_batch_size if n else _add_orderer(ca_pem), step if n else 1)
        )
        channel.orderer = "ORDERER-2"
        other = fb.endorser_tx(
            channel, "AGENCY-C", ev.consent_granted(ev.pid()), {}, dt.datetime.now(dt.UTC)
        )
        channel.order([other.envelope])
    tx_id, number = _event(channel, peer)
    if after is not None:
        after(channel)
    return Updated(channel, peer, configs, tx_id, number, _bundle(peer, f, w, [tx_id]))


def _verify(f: FabricScenario, bundle: Bundle) -> BundleReport:
    return pinned(f, bundle, genesis_hash=f.genesis_hash)


def _carried(bundle: Bundle) -> list[int]:
    raw = bundle["evidence"].get("config_blocks", [])
    return [int(pb.common.Block.FromString(base64.b64decode(b)).header.number) for b in raw]


def _failure(report: BundleReport) -> tuple[set[str], str]:
    """The codes and every message, so a test can say which check refused."""
    return report.codes, " | ".join(x.message for x in report.failures)


# -- honest events after updates ---------------------------------------------------------


def test_an_event_after_one_configuration_update_verifies(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """The event's block is signed by an orderer only the update names: the verifier
    applied it. The bundle adds the configuration block alone, not the blocks before."""
    up = _updated(fabric, audit_witnesses, new_orderer, 1)
    report = _verify(fabric, up.bundle)
    assert report.ok, report.failures
    assert [e.included for e in report.events] == [True]
    assert _carried(up.bundle) == up.configs
    first = pb.common.Block.FromString(base64.b64decode(up.bundle["evidence"]["blocks"][0]))
    assert first.header.number == up.block


def test_an_event_after_two_configuration_updates_verifies(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    up = _updated(fabric, audit_witnesses, new_orderer, 2)
    report = _verify(fabric, up.bundle)
    assert report.ok, report.failures
    assert _carried(up.bundle) == up.configs == sorted(up.configs)
    assert len(up.configs) == 2


def test_bundles_without_updates_carry_no_configuration_blocks(fabric: FabricScenario) -> None:
    """Bundles keep the format they had: without an update there is nothing to add."""
    assert "config_blocks" not in fabric.bundle["evidence"]
    assert _verify(fabric, fabric.bundle).ok


def test_events_on_both_sides_of_an_update_verify(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """The update between two events is among the bundle's blocks (whole): the later
    event is judged under it, though its own run of blocks starts after it."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    channel.signers["ORDERER-2"] = new_orderer[1]
    before, _ = _event(channel, peer)
    channel.update_config(_add_orderer(new_orderer[0]))
    channel.orderer = "ORDERER-2"
    later, _ = _event(channel, peer)
    bundle = _bundle(peer, fabric, audit_witnesses, [before, later])
    assert "config_blocks" not in bundle["evidence"]
    report = _verify(fabric, bundle)
    assert report.ok, report.failures
    assert [e.included for e in report.events] == [True, True]


def test_block_evidence_alone_carries_the_updates(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """The same for one transaction's block evidence (what ``FabricLedger.evidence``
    gives), through its JSON form: without the updates it cannot be checked."""
    up = _updated(fabric, audit_witnesses, new_orderer, 2)
    channel = up.channel
    configs = tuple(configs_in_force(channel.block, up.block))
    assert [pb.common.Block.FromString(c).header.number for c in configs] == up.configs
    later = tuple(compact(channel.block(n)) for n in range(up.block + 1, len(channel.blocks) + 1))
    blocks = (channel.block(up.block), *later)
    evidence = Evidence(fb.CHANNEL, up.tx_id, channel.genesis, blocks, configs)
    report = verify_evidence(
        Evidence.from_dict(evidence.to_dict()), genesis_hash=fabric.genesis_hash
    )
    assert report.block == up.block
    with pytest.raises(IntegrityError, match="does not carry"):
        verify_evidence(Evidence(fb.CHANNEL, up.tx_id, channel.genesis, blocks))


# -- what a forger cannot do with them ---------------------------------------------------


def _with_configs(up: Updated, configs: list[bytes]) -> Bundle:
    bundle = copy.deepcopy(up.bundle)
    bundle["evidence"]["config_blocks"] = [base64.b64encode(c).decode() for c in configs]
    if not configs:
        del bundle["evidence"]["config_blocks"]
    return bundle


def test_leaving_out_a_configuration_update_fails(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    up = _updated(fabric, audit_witnesses, new_orderer, 2)
    first, second = (up.channel.block(n) for n in up.configs)
    codes, message = _failure(_verify(fabric, _with_configs(up, [second])))
    assert codes == {"bad_block_evidence"}
    assert "sequence 2, not 1" in message
    codes, message = _failure(_verify(fabric, _with_configs(up, [first])))
    assert codes == {"bad_block_evidence"}
    assert f"configuration of block {up.configs[1]}, which the evidence does not carry" in message
    codes, message = _failure(_verify(fabric, _with_configs(up, [])))
    assert codes == {"bad_block_evidence"}
    assert "does not carry" in message


def test_reordered_configuration_updates_fail(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    up = _updated(fabric, audit_witnesses, new_orderer, 2)
    first, second = (up.channel.block(n) for n in up.configs)
    report = _verify(fabric, _with_configs(up, [second, first]))
    assert not report.ok
    assert not any(e.included for e in report.events)
    codes, message = _failure(report)
    assert codes == {"bad_block_evidence"}
    assert "sequence 2, not 1" in message


def test_a_configuration_block_signed_by_a_member_fails(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """An agency writes itself an update (here: its own second orderer organisation),
    and signs the block with its own key."""
    up = _updated(fabric, audit_witnesses, new_orderer, 1)
    honest = pb.common.Block.FromString(up.channel.block(up.configs[0]))
    forged = fb.make_block(
        int(honest.header.number),
        bytes(honest.header.previous_hash),
        list(honest.data.data),
        up.channel.signers["AGENCY-A"],
        b"\x00",
        int(honest.header.number),
    )
    codes, message = _failure(_verify(fabric, _with_configs(up, [forged])))
    assert codes == {"bad_orderer_signature"}
    assert "by AGENCY-A, which is not an orderer organisation" in message


def test_an_orderer_cannot_sign_itself_in(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """The update that adds an orderer organisation is judged under the configuration
    before it, which does not name that organisation."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    channel.signers["ORDERER-2"] = new_orderer[1]
    channel.orderer = "ORDERER-2"
    channel.update_config(_add_orderer(new_orderer[0]))
    tx_id, _ = _event(channel, peer)
    codes, message = _failure(_verify(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id])))
    assert codes == {"bad_orderer_signature"}
    assert "ORDERER-2 is not in the channel configuration" in message


def test_an_update_must_keep_the_consortiums_certificate_authorities(
    fabric: FabricScenario, audit_witnesses: TestWitnesses
) -> None:
    """The pinned consortium anchors each member's identities under every configuration
    the events are judged by, not only under genesis."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    _, rogue_ca = issue_ca("AGENCY-C")

    def replace_ca(config: Any) -> None:
        app = config.channel_group.groups["Application"]
        app.groups["AGENCY-C"].CopyFrom(fb.msp_group("AGENCY-C", cert_pem(rogue_ca)))

    number = channel.update_config(replace_ca)
    tx_id, _ = _event(channel, peer)  # by AGENCY-A, endorsed by AGENCY-A and AGENCY-B
    codes, message = _failure(_verify(fabric, _bundle(peer, fabric, audit_witnesses, [tx_id])))
    assert codes == {"consortium_mismatch"}
    assert "AGENCY-C's CA in the consortium is not a root of its MSP in the channel " in message
    assert f"configuration of block {number}" in message


def test_a_configuration_block_whose_data_was_changed_fails(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """The orderers signed an update; the forger swaps in its own CA as the new
    orderer organisation's, under the same header and signature."""
    up = _updated(fabric, audit_witnesses, new_orderer, 1)
    _, rogue_ca = issue_ca("ORDERER-2")
    config = fb.config_of(up.channel.block(up.configs[0]))
    _add_orderer(cert_pem(rogue_ca))(config)
    block = pb.common.Block.FromString(up.channel.block(up.configs[0]))
    block.data.data[0] = fb.config_envelope(config)
    codes, message = _failure(_verify(fabric, _with_configs(up, [block.SerializeToString()])))
    assert codes == {"block_data_mismatch"}
    assert f"configuration block {up.configs[0]}: data does not match" in message


def test_a_configuration_block_that_skips_a_sequence_fails(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """Even signed by the orderers, an update must follow the one before it."""
    up = _updated(fabric, audit_witnesses, new_orderer, 2, step=2)
    codes, message = _failure(_verify(fabric, up.bundle))
    assert codes == {"bad_block_evidence"}
    assert "sequence 3, not 2" in message


def test_a_configuration_newer_than_the_events_fails(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """An update ordered after the event cannot be carried as in force at its block."""

    def update_later(channel: fb.Channel) -> None:
        channel.update_config(_batch_size)

    up = _updated(fabric, audit_witnesses, new_orderer, 1, after=update_later)
    assert _verify(fabric, up.bundle).ok  # the later update is among its blocks, whole
    later = up.channel.config
    assert later > up.block
    newer = [up.channel.block(up.configs[0]), up.channel.block(later)]
    codes, message = _failure(_verify(fabric, _with_configs(up, newer)))
    assert codes == {"bad_block_evidence"}
    assert f"not under the later one of block {later}" in message


def test_a_configuration_block_between_events_cannot_be_cut_to_its_header(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """Blocks between events travel as signed headers, but a configuration block must
    come whole: as a header it would hide the rules the next blocks follow."""
    channel = copy.deepcopy(fabric.peer.channel)
    peer = StandInPeer(channel, [])
    channel.signers["ORDERER-2"] = new_orderer[1]
    before, first = _event(channel, peer)
    config = channel.update_config(_add_orderer(new_orderer[0]))
    channel.orderer = "ORDERER-2"
    later, _ = _event(channel, peer)
    bundle = _bundle(peer, fabric, audit_witnesses, [before, later])
    block = pb.common.Block.FromString(channel.block(config))
    del block.data.data[:]
    blocks = bundle["evidence"]["blocks"]
    blocks[config - first] = base64.b64encode(block.SerializeToString()).decode()
    codes, message = _failure(_verify(fabric, bundle))
    assert codes == {"bad_block_evidence"}
    assert f"configuration of block {config}, which the evidence does not carry" in message


def test_the_builder_refuses_a_peer_whose_configurations_do_not_go_back(
    fabric: FabricScenario,
) -> None:
    """A peer serving a block that names itself (or a later one) as its configuration
    would send the builder round in circles."""
    channel = copy.deepcopy(fabric.peer.channel)
    head = pb.common.Block.FromString(channel.head())
    number = int(head.header.number) + 1
    channel.blocks.append(
        fb.make_block(
            number,
            block_header_hash(head.header),
            [fb.config_envelope(fb.config_of(channel.genesis))],
            channel.signers["ORDERER"],
            b"\x00",
            number,
        )
    )
    with pytest.raises(IntegrityError, match="not an earlier one"):
        configs_in_force(channel.block, number)


def test_every_mutation_of_the_configuration_blocks_is_reported(
    fabric: FabricScenario, audit_witnesses: TestWitnesses, new_orderer: tuple[str, FabricSigner]
) -> None:
    """Hostile input: a value of the wrong type in ``config_blocks`` is a failed check
    or a refused bundle, never an exception, and never verifies."""
    genuine = json.loads(json.dumps(_updated(fabric, audit_witnesses, new_orderer, 2).bundle))
    assert _verify(fabric, genuine).ok
    outcomes: dict[str, str] = {}
    for _, where, mutated in mutations(genuine, ("evidence", "config_blocks")):
        try:
            outcomes[where] = "ok" if _verify(fabric, mutated).ok else "failed"
        except AuditError as exc:
            outcomes[where] = exc.code
    assert outcomes
    assert set(outcomes.values()) <= {"failed", "malformed_bundle"}, outcomes
