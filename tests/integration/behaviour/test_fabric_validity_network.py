"""Fabric-only: the network as `network.sh up` makes it attests validity, and members
collect each other's signed statements over HTTP from separate gateway processes.

A member serving a statement over another tree is left out, so it cannot lend its
signature to a history its peer did not commit, nor make up the quorum.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from ledger_gw.audit.verify import BundleReport, verify_bundle
from ledger_gw.cli import cli
from ledger_gw.client import OrgClient
from ledger_gw.consortium import Consortium
from ledger_gw.log.checkpoint import Checkpoint, cosign_statement, parse_signer
from ledger_gw.log.note import Note
from tests.support import events as ev
from tests.support.canned_http import serving_handler
from tests.support.gunicorn import free_port

AGENCIES = frozenset({"AGENCY-A", "AGENCY-B", "AGENCY-C"})


def _state(profile: Path) -> Path:
    return profile.parent


def _pins(profile: Path) -> tuple[Consortium, bytes]:
    from ledger_gw import protos as pb
    from ledger_gw.audit.fabric_blocks import block_header_hash
    from ledger_gw.bootstrap import fabric_ledger
    from ledger_gw.fabric.gateway import FabricLedger

    ledger, ws = fabric_ledger(profile)
    try:
        assert isinstance(ledger, FabricLedger)
        genesis = pb.common.Block.FromString(ledger.block(0, "AUDITOR-X"))
        return Consortium.load(ws.root / "consortium.json"), block_header_hash(genesis.header)
    finally:
        ledger.close()


def _bundle_and_verify(profile: Path) -> BundleReport:
    """One new event, its bundle built through the auditor's peer with the attesters
    ``profile`` names, verified with the workspace's consortium and the genesis pinned."""
    from ledger_gw.audit.bundle import build_bundle
    from ledger_gw.bootstrap import fabric_ledger
    from ledger_gw.fabric.gateway import FabricLedger
    from ledger_gw.fabric.verifiable import FabricLog

    consortium, genesis = _pins(profile)
    ledger, ws = fabric_ledger(profile)
    try:
        assert isinstance(ledger, FabricLedger)
        outcome = OrgClient(ledger, ws.signer("AGENCY-A")).submit(ev.consent_granted(ev.pid()))
        bundle = build_bundle(
            FabricLog(ledger, "AUDITOR-X"), consortium, kind="events", tx_ids=[outcome["tx_id"]]
        )
    finally:
        ledger.close()
    return verify_bundle(
        json.dumps(bundle),
        trusted_consortium=consortium,
        genesis_hash=genesis,
        endorsement_policy=(2, AGENCIES),
    )


def _profile(fabric_profile: Path, org: str, urls: dict[str, str], name: str) -> Path:
    """``org``'s own profile as network.sh wrote it, asking the others at ``urls``."""
    data = json.loads((_state(fabric_profile) / f"profile-{org}.json").read_text())
    data["validity_urls"] = urls
    path = _state(fabric_profile) / name
    path.write_text(json.dumps(data))
    return path


@contextmanager
def _gateway(fabric_profile: Path, org: str, tmp: Path) -> Iterator[str]:
    """``ledger-gw serve`` for ``org`` alone, on its own profile: its own process."""
    port = free_port()
    env = {
        **os.environ,
        "LEDGER_GW_BACKEND": "fabric",
        "LEDGER_GW_FABRIC_PROFILE": str(_state(fabric_profile) / f"profile-{org}.json"),
        "LEDGER_GW_ORGS": org,
        "LEDGER_GW_OFFCHAIN_URL": f"sqlite:///{tmp}/offchain-{{org}}.db",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    workspace = _state(fabric_profile) / "workspace"
    command = ["serve", "--dir", str(workspace), "--host", "127.0.0.1", "--port", str(port)]
    log_path = tmp / f"gateway-{org}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ledger_gw.cli", *command, "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text())
                time.sleep(0.3)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


@contextmanager
def _rogue(fabric_profile: Path, org: str) -> Iterator[str]:
    """``org``'s real witness key, serving a statement over a tree of its own making."""
    key = next(_state(fabric_profile).glob(f"crypto/peerOrganizations/{org.lower()}.*/witness/*"))
    signer = parse_signer(key.read_bytes())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            height = int(self.path.rsplit("/", 1)[1])
            with requests.Session() as session:
                genuine = session.get(f"{real}/v1/validity/{height}", timeout=60).json()
            cp = Checkpoint.parse(Note.parse(genuine["statement"]).text)
            other = Checkpoint(cp.origin, cp.size, bytes(32))
            body = json.dumps(
                {"height": height, "statement": cosign_statement(other, signer, int(time.time()))}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    real = _real[0]
    with serving_handler(Handler) as url:
        yield url


_real: list[str] = []


@pytest.fixture(scope="module")
def gateways(
    fabric_profile: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("validity-gateways")
    with (
        _gateway(fabric_profile, "AGENCY-B", tmp) as b,
        _gateway(fabric_profile, "AGENCY-C", tmp) as c,
    ):
        _real[:] = [c]
        yield {"AGENCY-B": b, "AGENCY-C": c}


def test_the_network_as_made_attests_validity(fabric_profile: Path, tmp_path: Path) -> None:
    """profile.json out of network.sh up: bundles verify with the workspace's consortium."""
    report = _bundle_and_verify(fabric_profile)
    assert report.ok, report.failures
    assert sorted(report.anchor["validity_witnesses"]) == [
        "witness.agency-a",
        "witness.agency-b",
        "witness.agency-c",
    ]


def test_one_member_alone_is_no_quorum(fabric_profile: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    alone = _profile(fabric_profile, "AGENCY-A", {"AGENCY-B": nobody}, "profile-alone.json")
    report = _bundle_and_verify(alone)
    assert not report.ok
    assert "validity_not_attested" in report.codes


def test_members_attest_across_gateways(fabric_profile: Path, gateways: dict[str, str]) -> None:
    profile = _profile(fabric_profile, "AGENCY-A", gateways, "profile-http.json")
    report = _bundle_and_verify(profile)
    assert report.ok, report.failures
    assert len(report.anchor["validity_witnesses"]) == 3


def test_a_member_stating_another_tree_is_not_counted(
    fabric_profile: Path, gateways: dict[str, str]
) -> None:
    with _rogue(fabric_profile, "AGENCY-C") as rogue:
        lone = _profile(fabric_profile, "AGENCY-A", {"AGENCY-C": rogue}, "profile-rogue1.json")
        report = _bundle_and_verify(lone)
        assert "validity_not_attested" in report.codes
        both = {"AGENCY-B": gateways["AGENCY-B"], "AGENCY-C": rogue}
        report = _bundle_and_verify(
            _profile(fabric_profile, "AGENCY-A", both, "profile-rogue2.json")
        )
    assert report.ok, report.failures
    assert sorted(report.anchor["validity_witnesses"]) == ["witness.agency-a", "witness.agency-b"]


def test_a_gateway_serves_its_statement(fabric_profile: Path, gateways: dict[str, str]) -> None:
    with requests.Session() as session:
        answer = session.get(f"{gateways['AGENCY-B']}/v1/validity/2", timeout=60)
        beyond = session.get(f"{gateways['AGENCY-B']}/v1/validity/999999", timeout=60)
    assert answer.status_code == 200
    note = Note.parse(answer.json()["statement"])
    assert [s.name for s in note.signatures] == ["witness.agency-b"]
    assert beyond.status_code == 404


def test_the_demo_verifies_its_bundle_on_the_network(
    fabric_profile: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEDGER_GW_FABRIC_PROFILE", str(fabric_profile))
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(cli, ["demo", "--backend", "fabric", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Audit bundle verified offline: 7 events" in result.output
    assert "witness.agency-a, witness.agency-b, witness.agency-c (quorum 2)" in result.output
