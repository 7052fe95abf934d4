"""docker-compose.yml is valid against the Compose Specification and is the network's twin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

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
    for image in ("fabric-peer", "fabric-orderer", "fabric-ca"):
        assert f"hyperledger/{image}:2.5" in images
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
    crypto = yaml.safe_load((ROOT / "network" / "crypto-config.yaml").read_text())
    names = [o["Name"] for o in crypto["PeerOrgs"]]
    assert names == ["AGENCY-A", "AGENCY-B", "AGENCY-C", "AUDITOR-X", "DONOR-Y"]
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    subprocess.run([bash, "-n", str(ROOT / "network" / "network.sh")], check=True)
