"""The network's cryptogen and configtxgen inputs come from the consortium definition:
another consortium gets its own organisations, none of the demo's."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from ledger_gw.consortium import Definition
from ledger_gw.errors import ConfigError
from ledger_gw.fabric.netconfig import configtx, crypto_config, main, peer_orgs, shell
from tests.support.east_basin import DEFINITION

NETWORK = Path(__file__).parents[3] / "network" / "consortium.toml"
DEMO_NAMES = ("AGENCY", "AUDITOR-X", "DONOR-Y")


@pytest.fixture
def east_basin(tmp_path: Path) -> Path:
    path = tmp_path / "east-basin.toml"
    path.write_text(DEFINITION)
    return path


def _configtx(path: Path, state: Path) -> dict[str, object]:
    definition = Definition.load(path)
    peers = {org: f"127.0.0.1:{7051 + 100 * n}" for n, org in enumerate(peer_orgs(definition))}
    return configtx(definition, state, ["127.0.0.1:7050", "127.0.0.1:7060"], peers)


def test_the_demo_network_keeps_its_organisations() -> None:
    definition = Definition.load(NETWORK)
    crypto = crypto_config(definition)
    names = [o["Name"] for o in crypto["PeerOrgs"]]
    assert names == ["AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X", "DONOR-Y"]
    donor = crypto["PeerOrgs"][-1]
    assert donor["Template"] == {"Count": 0}  # no peer
    assert "Specs" not in donor
    assert crypto["PeerOrgs"][0]["Domain"] == "agency-a.ledger.local"
    assert peer_orgs(definition) == ("AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X")


def test_another_consortium_gets_its_own_organisations(east_basin: Path, tmp_path: Path) -> None:
    out = tmp_path / "crypto-config.yaml"
    assert main(["crypto", str(east_basin), str(out)]) == 0
    crypto = yaml.safe_load(out.read_text())  # what cryptogen reads
    assert [(o["Name"], o["Domain"]) for o in crypto["PeerOrgs"]] == [
        ("RIVER-AID", "river-aid.ledger.local"),
        ("HILL-HEALTH", "hill-health.ledger.local"),
        ("LAKE-AUDIT", "lake-audit.ledger.local"),
    ]
    assert all(o["EnableNodeOUs"] and o["Specs"] for o in crypto["PeerOrgs"])
    channel = _configtx(east_basin, Path("/state"))
    text = json.dumps(channel)
    assert not any(name in text for name in DEMO_NAMES)
    app = channel["Profiles"]["Referrals"]["Application"]  # type: ignore[index]
    orgs = {o["ID"]: o for o in app["Organizations"]}
    assert list(orgs) == ["RIVER-AID", "HILL-HEALTH", "LAKE-AUDIT"]
    hill = orgs["HILL-HEALTH"]
    assert hill["MSPDir"] == "/state/crypto/peerOrganizations/hill-health.ledger.local/msp"
    assert hill["Policies"]["Admins"]["Rule"] == "OR('HILL-HEALTH.admin')"
    assert hill["AnchorPeers"] == [{"Host": "127.0.0.1", "Port": 7151}]
    orderer = channel["Profiles"]["Referrals"]["Orderer"]  # type: ignore[index]
    consenters = orderer["EtcdRaft"]["Consenters"]
    assert [(c["Host"], c["Port"]) for c in consenters] == [
        ("127.0.0.1", 7050),
        ("127.0.0.1", 7060),
    ]
    assert consenters[1]["ServerTLSCert"].endswith(
        "orderers/orderer1.orderer.ledger.local/tls/server.crt"
    )


def test_the_shell_assignments_name_the_endorsers_and_their_policy(east_basin: Path) -> None:
    text = shell(Definition.load(east_basin))
    script = f'{text}\necho "${{PEER_ORGS[*]}}|${{AGENCIES[*]}}|$REQUIRED|$POLICY"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        "RIVER-AID HILL-HEALTH LAKE-AUDIT|RIVER-AID HILL-HEALTH|2|"
        "OutOf(2,'RIVER-AID.peer','HILL-HEALTH.peer')"
    )
    assert shlex.split(text.splitlines()[0].split("=", 1)[1].strip("()")) == [
        "RIVER-AID",
        "HILL-HEALTH",
        "LAKE-AUDIT",
    ]


def test_a_consortium_fabric_cannot_run_is_refused(
    east_basin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_policy = tmp_path / "no-policy.toml"
    no_policy.write_text(DEFINITION.split("[endorsement]")[0])
    out = tmp_path / "configtx.yaml"
    assert main(["shell", str(no_policy)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"{no_policy}: consortium east-basin states no [endorsement] for Fabric"
    )
    definition = Definition.load(east_basin)
    with pytest.raises(ConfigError, match=r"no peer address for LAKE-AUDIT$"):
        configtx(
            definition, tmp_path, ["127.0.0.1:7050"], {"RIVER-AID": "h:1", "HILL-HEALTH": "h:2"}
        )
    with pytest.raises(ConfigError, match="from 1 to 3 orderers, not 4"):
        configtx(definition, tmp_path, ["h:1"] * 4, {})
    args = ["configtx", str(east_basin), str(tmp_path), str(out), "--orderer", "no-port"]
    assert main([*args, *(f"--peer={o}=h:1" for o in peer_orgs(definition))]) == 1
    assert "'no-port' is not HOST:PORT" in capsys.readouterr().err
    assert not out.exists()  # nothing written
