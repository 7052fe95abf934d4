"""docker-compose.yml is valid against the Compose Specification and is the network's twin."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ledger_gw.consortium import Definition
from ledger_gw.fabric.netconfig import crypto_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"the Compose Specification schema is not at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
    assert errors == [], "\n".join(e.message for e in errors)


def test_official_images_our_chaincode_and_a_gateway_per_agency(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {s.get("image", "") for s in services.values()}
    for image in ("fabric-peer", "fabric-orderer", "fabric-tools"):
        assert f"hyperledger/{image}:2.5" in images
    # Fabric CA has its own release line: 1.5 is the one that serves Fabric 2.5.
    assert "hyperledger/fabric-ca:1.5" in images
    chaincode = [n for n in services if n.startswith("cc.")]
    assert len(chaincode) == 4
    for name in chaincode:
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
        assert "CHAINCODE_TLS_CERT" in services[name]["environment"]
    gateways = sorted(n for n in services if n.startswith("gateway."))
    assert gateways == ["gateway.agency-a", "gateway.agency-b", "gateway.agency-c"]
    assert (ROOT / "Dockerfile").exists()


def test_the_gateways_are_reached_through_a_buffering_proxy_only(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("gateway.agency-a", "gateway.agency-b", "gateway.agency-c"):
        assert "ports" not in services[name]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert proxy["ports"] == [f"127.0.0.1:{p}:{p}" for p in (8081, 8082, 8083)]
    [mount] = proxy["volumes"]
    conf = (ROOT / mount["source"]).read_text()
    for directive in (
        "client_header_timeout 10s;",
        "client_body_timeout 10s;",
        "client_max_body_size 8m;",
    ):
        assert directive in conf
    for org in ("agency-a", "agency-b", "agency-c"):
        assert f"proxy_pass http://gateway.{org}:8080;" in conf


def test_network_script_and_config_parse() -> None:
    crypto = crypto_config(Definition.load(ROOT / "network" / "consortium.toml"))
    names = [o["Name"] for o in crypto["PeerOrgs"]]
    assert names == ["AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X", "DONOR-Y"]
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    subprocess.run([bash, "-n", str(ROOT / "network" / "network.sh")], check=True)


def test_peers_keep_no_per_key_history_in_either_network(compose: dict[str, Any]) -> None:
    """Nothing reads Fabric's history index, and every key written cost the peers a
    write to it: both networks run their peers without it."""
    peers = {n: s for n, s in compose["services"].items() if n.startswith("peer0.")}
    assert len(peers) == 4
    for service in peers.values():
        assert service["environment"]["CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE"] == "false"
    script = (ROOT / "network" / "network.sh").read_text()
    assert "echo CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE=false" in script


ORG_DIRS = {
    "agency-a": "AGENCY-A",
    "agency-b": "AGENCY-B",
    "agency-c": "AGENCY-C",
    "auditor-x": "AUDITOR-X",
}


def _owner(service: str) -> str | None:
    """The organisation a service runs for, from its name (commit: the first agency)."""
    if service == "commit":
        return "agency-a"
    return next((slug for slug in ORG_DIRS if slug in service), None)


EMBEDDED_SITE = "./deploy/.state-embedded"
EMBEDDED_NODE = f"{EMBEDDED_SITE}/node"  # the log key
CHOWN = ["chown", "-R", "10001", "/state"]  # to the image's user (Dockerfile)


def _key_dirs(source: str) -> set[str]:
    """The organisations whose private material a mounted path holds."""
    held = set()
    for slug, org in ORG_DIRS.items():
        for secret in (
            f"peerOrganizations/{slug}.ledger.local",
            f"chaincode/{org}",
            f"workspace/orgs/{org}",
            f"peers/{org}",
            f".state-embedded/{org}",
            f".state-embedded/witness-{org}",
        ):
            inside = source.rstrip("/").endswith(secret) or f"{secret}/" in source
            if inside and not source.endswith("-cert.pem"):
                held.add(slug)
    whole = ("./network/.state-compose", "./network/.state-compose/crypto", EMBEDDED_SITE)
    if source.rstrip("/") in whole:
        held.update(ORG_DIRS)
    return held


def test_no_container_mounts_another_organisations_keys(compose: dict[str, Any]) -> None:
    mounted_somewhere = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            held = _key_dirs(source)
            mounted_somewhere |= held
            assert held <= {_owner(name)}, f"{name} mounts {source}"
            if "ordererOrganizations" in source and not source.endswith("-cert.pem"):
                assert name in ("orderer0.orderer.ledger.local", "setup.orderer"), name
            if source.rstrip("/") in (EMBEDDED_NODE, EMBEDDED_SITE):
                assert name in ("embedded-node", "embedded-chown.node"), name
    assert mounted_somewhere == set(ORG_DIRS)


def _mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    """A service's mounts in the long syntax (short: SOURCE:TARGET, a named volume unless
    SOURCE is a path)."""
    mounts: list[dict[str, Any]] = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            volume = {"type": kind, "source": source, "target": target}
        mounts.append(volume)
    return mounts


def test_the_embedded_profile_binds_each_party_to_its_own_directory_of_the_site(
    compose: dict[str, Any],
) -> None:
    """What a party keeps (the ledger, a witness's memory, a gateway's off-chain data,
    receipts and outbox) lives in its directory on the host, which `docker compose down -v`
    does not remove, and which is never made empty where it is missing."""
    services = compose["services"]
    embedded = sorted(n for n, s in services.items() if s.get("profiles") == ["embedded"])
    running = [n for n in embedded if not n.startswith("embedded-chown.")]
    assert running == [
        "embedded-gateway.agency-a",
        "embedded-gateway.agency-b",
        "embedded-gateway.agency-c",
        "embedded-node",
        "embedded-witness.agency-a",
        "embedded-witness.auditor-x",
    ]
    chowns = set()
    for name in running:
        service = services[name]
        assert service["image"] == "referral-ledger:local"
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert "healthcheck" in service, name
        [mount] = _mounts(service)  # its own directory, nothing else
        assert mount == {
            "type": "bind",
            "source": f"{EMBEDDED_SITE}/{_party_dir(name)}",
            "target": "/state",
            "bind": {"create_host_path": False},
        }, name
        [chown] = [d for d in service["depends_on"] if d.startswith("embedded-chown.")]
        assert services[chown]["command"] == CHOWN
        assert services[chown]["user"] == "0"
        assert _mounts(services[chown]) == [mount]
        chowns.add(chown)
    assert sorted(chowns) == [n for n in embedded if n.startswith("embedded-chown.")]
    assert not [v for v in compose["volumes"] if v.startswith("embedded")]
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.search(r"useradd --system --uid (\d+) (\w+)", dockerfile)
    assert user is not None
    assert f"USER {user[2]}\n" in dockerfile
    assert CHOWN[2] == user[1]  # who must read the party's keys (mode 0600)
    for org in ("agency-a", "agency-b", "agency-c"):
        gateway = services[f"embedded-gateway.{org}"]
        assert gateway["environment"]["LEDGER_GW_ORGS"] == org.upper()
        assert gateway["depends_on"]["embedded-node"]["condition"] == "service_healthy"
        assert "--log-url" in gateway["command"]
    node = services["embedded-node"]["depends_on"]
    for witness in ("embedded-witness.agency-a", "embedded-witness.auditor-x"):
        assert node[witness]["condition"] == "service_healthy"


def test_a_witness_keeps_its_memory_on_the_host_and_none_is_copied_in(
    compose: dict[str, Any],
) -> None:
    """A witness's memory (witness.db) is what lets it refuse a fork. Kept in a named
    volume, `docker compose down -v` removed it and a seed step copied in the empty one
    `witness init` made: the witness started afresh without a word. Bound from the host
    it outlives the volumes, and where it is gone `witness serve` refuses to start
    (tests/integration/test_compose_witness_state.py)."""
    services = compose["services"]
    serving = ["ledger-gw", "witness", "serve"]
    witnesses = sorted(n for n, s in services.items() if s.get("command", [])[:3] == serving)
    assert witnesses == ["embedded-witness.agency-a", "embedded-witness.auditor-x"]
    for name in witnesses:
        command = services[name]["command"]
        assert "--new-memory" not in command
        state = command[command.index("--dir") + 1]
        [mount] = [m for m in _mounts(services[name]) if m["target"] == state]
        assert mount["type"] == "bind", f"{name} keeps its memory in a {mount['type']}"
        assert mount["source"] == f"{EMBEDDED_SITE}/{_party_dir(name)}"
        assert mount["bind"]["create_host_path"] is False
        assert not mount.get("read_only")
        for other, service in services.items():  # nothing else writes there
            if other != name and any(m["source"] == mount["source"] for m in _mounts(service)):
                assert service["command"] == CHOWN, other


def _party_dir(service: str) -> str:
    """The prepared directory a service's party holds (`ledger-gw consortium prepare`)."""
    kind, _, slug = service.partition(".")
    if kind == "embedded-node":
        return "node"
    return ("witness-" if kind == "embedded-witness" else "") + slug.upper()


def test_the_isolation_check_catches_a_shared_state_mount() -> None:
    assert _key_dirs("./network/.state-compose") == set(ORG_DIRS)
    assert _key_dirs("./network/.state-compose/workspace/orgs/AGENCY-B") == {"agency-b"}
    tls_root = "./network/.state-compose/crypto/peerOrganizations/agency-b.ledger.local/tlsca/"
    assert _key_dirs(tls_root + "tlsca.agency-b.ledger.local-cert.pem") == set()
    assert _key_dirs(EMBEDDED_SITE) == set(ORG_DIRS)
    assert _key_dirs(f"{EMBEDDED_SITE}/AGENCY-B") == {"agency-b"}
    assert _key_dirs(f"{EMBEDDED_SITE}/witness-AUDITOR-X") == {"auditor-x"}


def test_services_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, condition in depends.items():
            wanted = condition["condition"]
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
            else:
                assert wanted == "service_completed_successfully", name
                assert services[dependency]["restart"] == "no", dependency
    for name in ("gateway.agency-a", "gateway.agency-b", "gateway.agency-c"):
        assert "healthcheck" in services[name]


def test_each_gateway_has_a_session_secret_of_its_own(compose: dict[str, Any]) -> None:
    files = set()
    for org in ("agency-a", "agency-b", "agency-c"):
        gateway = compose["services"][f"gateway.{org}"]
        assert gateway["secrets"] == [f"session-{org}"]
        path = gateway["environment"]["LEDGER_GW_SESSION_KEY_FILE"]
        assert path == f"/run/secrets/session-{org}"
        files.add(compose["secrets"][f"session-{org}"]["file"])
    assert len(files) == 3


def test_each_gateway_states_validity_with_its_own_key_and_asks_the_others(
    compose: dict[str, Any],
) -> None:
    """A Fabric bundle needs the members' statements of which transactions were valid:
    each gateway signs its own with its witness key (its own profile names it) and asks
    the others' gateways at the URLs network.sh writes, which the fabric network must
    resolve."""
    script = (ROOT / "network" / "network.sh").read_text()
    assert 'echo "http://gateway.$(lower "$1").ledger.local:8080"' in script
    assert '--name "profile-$org.json"' in script
    for org in ("AGENCY-A", "AGENCY-B", "AGENCY-C"):
        low = org.lower()
        service = compose["services"][f"gateway.{low}"]
        sources = {v["target"]: v["source"] for v in service["volumes"] if isinstance(v, dict)}
        assert sources["/state/profile.json"] == f"./network/.state-compose/profile-{org}.json"
        key = f"crypto/peerOrganizations/{low}.ledger.local/witness/witness.key"
        assert sources[f"/state/{key}"] == f"./network/.state-compose/{key}"
        assert f"gateway.{low}.ledger.local" in service["networks"]["fabric"]["aliases"]
