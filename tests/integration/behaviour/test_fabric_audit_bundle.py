"""Fabric-only: an offline audit bundle for a referral chain, from the real network.

The bundle is built from the Fabric verifiable log read through the auditor's peer
(qscc blocks, decoded into records), the connection is closed, and the bundle is
verified by the same
`verify_bundle` as an embedded-ledger bundle; each tampering then fails with its own
reason. Without FABRIC_HOME the `fabric_profile` fixture skips with its reason.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger_gw.audit.verify import verify_bundle
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from tests.integration.behaviour.conftest import FabricValidity
from tests.support import events as ev
from tests.support import fabric_blocks as fb

AGENCIES = frozenset({"AGENCY-A", "AGENCY-B", "AGENCY-C"})
Bundle = dict[str, Any]


@dataclass
class Built:
    bundle: Bundle
    consortium: Consortium
    genesis_hash: bytes
    tx_ids: dict[str, str]  # "r1.accepted", ... -> Fabric transaction ID
    root: str
    onward: str


@pytest.fixture(scope="module")
def built(fabric_validity: FabricValidity) -> Built:
    """Two linked referrals on the network, then a bundle for the onward one's chain, with
    the agencies' statements of what their own peers found valid."""
    from ledger_gw import protos as pb
    from ledger_gw.audit.bundle import build_bundle
    from ledger_gw.audit.fabric_blocks import block_header_hash
    from ledger_gw.bootstrap import fabric_ledger
    from ledger_gw.fabric.gateway import FabricLedger
    from ledger_gw.fabric.verifiable import FabricLog

    ledger, ws = fabric_ledger(fabric_validity.profile)
    try:
        assert isinstance(ledger, FabricLedger)
        a, b, c = (OrgClient(ledger, ws.signer(o)) for o in ("AGENCY-A", "AGENCY-B", "AGENCY-C"))
        person = ev.pid()
        r1 = ev.referral_created(person)
        r2 = ev.referral_created(person, to_org="AGENCY-C", parent_referral_id=r1["referral_id"])
        steps = [
            ("r1.created", a, r1),
            ("r1.accepted", b, ev.referral_step("accepted", r1["referral_id"])),
            ("r2.created", b, r2),
            ("r2.accepted", c, ev.referral_step("accepted", r2["referral_id"])),
            ("r2.completed", c, ev.referral_step("completed", r2["referral_id"])),
            ("r1.completed", b, ev.referral_step("completed", r1["referral_id"])),
        ]
        tx_ids: dict[str, str] = {}
        for name, who, event in steps:
            [outcome] = who.submit_many([event])
            assert outcome.error is None, outcome.error
            tx_ids[name] = outcome.tx_id
        # another person's event after the chain: the head lies beyond the last event
        a.submit(ev.consent_granted(ev.pid()))
        pinned = block_header_hash(pb.common.Block.FromString(ledger.block(0, "AGENCY-B")).header)
        bundle = build_bundle(
            FabricLog(ledger, "AUDITOR-X"),  # the profile's agencies attest validity
            fabric_validity.consortium,
            kind="referral_chain",
            subject=r2["referral_id"],
        )
    finally:
        ledger.close()  # everything below is offline
    return Built(
        json.loads(json.dumps(bundle)),
        fabric_validity.consortium,
        pinned,
        tx_ids,
        r1["referral_id"],
        r2["referral_id"],
    )


def _verify(built: Built, bundle: Bundle) -> set[str]:
    return verify_bundle(
        json.dumps(bundle),
        trusted_consortium=built.consortium,
        genesis_hash=built.genesis_hash,
        endorsement_policy=(2, AGENCIES),
    ).codes


def _index(bundle: Bundle, tx_id: str) -> int:
    from ledger_gw import protos as pb

    entry = next(e for e in bundle["evidence"]["entries"] if e["tx_id"] == tx_id)
    first = pb.common.Block.FromString(base64.b64decode(bundle["evidence"]["blocks"][0]))
    return int(entry["block"]) - int(first.header.number)


def _rewrite(bundle: Bundle, tx_id: str, change: Any) -> Bundle:
    out = copy.deepcopy(bundle)
    blocks = out["evidence"]["blocks"]
    i = _index(out, tx_id)
    blocks[i] = base64.b64encode(fb.rewrite_tx(base64.b64decode(blocks[i]), tx_id, change)).decode()
    return out


def test_bundle_for_a_referral_chain_verifies_offline(built: Built) -> None:
    report = verify_bundle(
        json.dumps(built.bundle),
        trusted_consortium=built.consortium,
        genesis_hash=built.genesis_hash,
        endorsement_policy=(2, AGENCIES),
    )
    assert report.ok, report.failures
    assert report.anchor["kind"] == "fabric/blocks-v1"
    assert report.anchor["genesis_pinned"]
    assert [(s.type, s.org) for s in report.steps] == [
        ("referral.created", "AGENCY-A"),
        ("referral.accepted", "AGENCY-B"),
        ("referral.created", "AGENCY-B"),
        ("referral.accepted", "AGENCY-C"),
        ("referral.completed", "AGENCY-C"),
        ("referral.completed", "AGENCY-B"),
    ]
    assert [e.tx_id for e in report.events] == list(built.tx_ids.values())
    assert all(s.ok for s in report.steps)


def test_changed_event_field_fails(built: Built) -> None:
    bundle = _rewrite(
        built.bundle,
        built.tx_ids["r2.created"],
        lambda env: fb.change_event(env, "to_org", "AGENCY-A"),
    )
    codes = _verify(built, bundle)
    assert {"proposal_mismatch", "bad_signature", "block_data_mismatch"} <= codes
    assert "bad_endorsement" not in codes


def test_forged_endorsement_signature_fails(built: Built) -> None:
    bundle = _rewrite(built.bundle, built.tx_ids["r2.accepted"], fb.forge_endorsement)
    codes = _verify(built, bundle)
    assert {"bad_endorsement", "block_data_mismatch"} <= codes
    assert "proposal_mismatch" not in codes


def test_dropped_event_fails(built: Built) -> None:
    bundle = copy.deepcopy(built.bundle)
    dropped = built.tx_ids["r2.accepted"]
    bundle["evidence"]["entries"] = [
        e for e in bundle["evidence"]["entries"] if e["tx_id"] != dropped
    ]
    codes = _verify(built, bundle)
    assert {"missing_event", "illegal_transition"} <= codes
    assert not codes & {"broken_chain", "block_data_mismatch", "bad_endorsement"}


def test_swapped_block_fails(built: Built) -> None:
    bundle = copy.deepcopy(built.bundle)
    blocks = bundle["evidence"]["blocks"]
    i = _index(bundle, built.tx_ids["r1.accepted"])
    blocks[i], blocks[i + 1] = blocks[i + 1], blocks[i]
    codes = _verify(built, bundle)
    assert "broken_chain" in codes
    assert not codes & {"proposal_mismatch", "bad_endorsement", "bad_signature"}


def test_cli_builds_on_fabric_and_verifies_offline(
    built: Built, fabric_validity: FabricValidity, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "bundle.json"
    made = runner.invoke(
        cli,
        [
            "audit",
            "bundle",
            "--backend",
            "fabric",
            "--profile",
            str(fabric_validity.profile),
            "--subject",
            built.root,
            "--out",
            str(out),
        ],
    )
    assert made.exit_code == 0, made.output
    assert "6 events" in made.output
    built.consortium.save(tmp_path / "consortium.json")
    trusted = ["--consortium", str(tmp_path / "consortium.json")]
    policy = ["--policy", "2:" + ",".join(AGENCIES)]
    pin = [*trusted, "--genesis-hash", built.genesis_hash.hex(), *policy]
    good = runner.invoke(cli, ["audit", "verify", str(out), *pin])
    assert good.exit_code == 0, good.output
    bad = runner.invoke(
        cli, ["audit", "verify", str(out), *trusted, *policy, "--genesis-hash", "00" * 32]
    )
    assert bad.exit_code == 1
    assert "genesis_mismatch" in str(bad.exception)
