"""The network's cryptogen and configtxgen inputs, made from the consortium definition.

A consortium with other members gets a network of its own organisations: an MSP per
member (NodeOUs on), a peer for each member but donors, the members' admins in the
channel's policies, and the endorsement policy the definition states. Both files are
written as JSON, which YAML readers (cryptogen, configtxgen) take as it is.

    python -m ledger_gw.fabric.netconfig shell DEF
        PEER_ORGS, AGENCIES (the endorsers) and POLICY, for network.sh to `eval`
    python -m ledger_gw.fabric.netconfig crypto DEF OUT
    python -m ledger_gw.fabric.netconfig configtx DEF STATE OUT --orderer HOST:PORT ...
        --peer ORG=HOST:PORT ...
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ledger_gw.consortium import Definition, Endorsement
from ledger_gw.errors import ConfigError
from ledger_gw.fabric.netsetup import DOMAIN, org_domain

ORDERER_ORG = "ORDERER"
ORDERER_DOMAIN = f"orderer.{DOMAIN}"
MAX_ORDERERS = 3
SANS = ["localhost", "127.0.0.1"]


def peer_orgs(definition: Definition) -> tuple[str, ...]:
    """Members that run a peer: every one but donors, whose clients read through a gateway."""
    return tuple(org_id for org_id, role in definition.members if role != "donor")


def endorsement(definition: Definition) -> Endorsement:
    """The policy the definition states: a Fabric network needs one."""
    if definition.endorsement is None:
        raise ConfigError(f"consortium {definition.name} states no [endorsement] for Fabric")
    return definition.endorsement


def shell(definition: Definition) -> str:
    """Bash assignments: the peers' organisations, the endorsers, the signature policy."""
    policy = endorsement(definition)
    return "\n".join(
        [
            f"PEER_ORGS=({' '.join(shlex.quote(o) for o in peer_orgs(definition))})",
            f"AGENCIES=({' '.join(shlex.quote(o) for o in policy.among)})",
            f"REQUIRED={policy.required}",
            f"POLICY={shlex.quote(policy.fabric())}",
        ]
    )


def crypto_config(definition: Definition) -> dict[str, Any]:
    """cryptogen's input: the orderers' organisation and one organisation per member."""
    with_peer = set(peer_orgs(definition))
    orgs: list[dict[str, Any]] = []
    for org_id, _ in definition.members:
        org: dict[str, Any] = {
            "Name": org_id,
            "Domain": org_domain(org_id),
            "EnableNodeOUs": True,
            "Users": {"Count": 0},
        }
        if org_id in with_peer:
            org["Specs"] = [{"Hostname": "peer0", "SANS": SANS}]
        else:
            org["Template"] = {"Count": 0}
        orgs.append(org)
    orderers = [{"Hostname": f"orderer{i}", "SANS": SANS} for i in range(MAX_ORDERERS)]
    return {
        "OrdererOrgs": [
            {
                "Name": ORDERER_ORG,
                "Domain": ORDERER_DOMAIN,
                "EnableNodeOUs": True,
                "Specs": orderers,
            }
        ],
        "PeerOrgs": orgs,
    }


def _policies(msp_id: str, *, endorsing: bool = True) -> dict[str, Any]:
    def rule(principal: str) -> dict[str, str]:
        return {"Type": "Signature", "Rule": f"OR('{msp_id}.{principal}')"}

    policies = {"Readers": rule("member"), "Writers": rule("member"), "Admins": rule("admin")}
    if endorsing:
        policies["Endorsement"] = rule("peer")
    return policies


def _implicit(rule: str) -> dict[str, str]:
    return {"Type": "ImplicitMeta", "Rule": rule}


CHANNEL_POLICIES = {
    "Readers": _implicit("ANY Readers"),
    "Writers": _implicit("ANY Writers"),
    "Admins": _implicit("MAJORITY Admins"),
}


def _address(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{spec!r} is not HOST:PORT")
    return host, int(port)


def configtx(
    definition: Definition,
    state: Path,
    orderers: Sequence[str],
    peers: Mapping[str, str],
) -> dict[str, Any]:
    """configtxgen's input for the channel: every member's MSP (from cryptogen's output
    under ``state``), anchor peers at ``peers`` (ORG → HOST:PORT), Raft consenters at
    ``orderers`` (HOST:PORT, orderer0 first)."""
    if not 1 <= len(orderers) <= MAX_ORDERERS:
        raise ConfigError(f"from 1 to {MAX_ORDERERS} orderers, not {len(orderers)}")
    missing = set(peer_orgs(definition)) - set(peers)
    if missing:
        raise ConfigError(f"no peer address for {', '.join(sorted(missing))}")
    crypto = state / "crypto"
    members = []
    for org_id, _ in definition.members:
        org: dict[str, Any] = {
            "Name": org_id,
            "ID": org_id,
            "MSPDir": str(crypto / "peerOrganizations" / org_domain(org_id) / "msp"),
            "Policies": _policies(org_id),
        }
        if org_id in peers:
            host, port = _address(peers[org_id])
            org["AnchorPeers"] = [{"Host": host, "Port": port}]
        members.append(org)
    consenters = []
    for i, spec in enumerate(orderers):
        host, port = _address(spec)
        tls = crypto / "ordererOrganizations" / ORDERER_DOMAIN / "orderers"
        cert = str(tls / f"orderer{i}.{ORDERER_DOMAIN}" / "tls" / "server.crt")
        consenters.append(
            {"Host": host, "Port": port, "ClientTLSCert": cert, "ServerTLSCert": cert}
        )
    orderer_org = {
        "Name": ORDERER_ORG,
        "ID": ORDERER_ORG,
        "MSPDir": str(crypto / "ordererOrganizations" / ORDERER_DOMAIN / "msp"),
        "Policies": _policies(ORDERER_ORG, endorsing=False),
        "OrdererEndpoints": list(orderers),
    }
    return {
        "Profiles": {
            "Referrals": {
                "Policies": CHANNEL_POLICIES,
                "Capabilities": {"V2_0": True},
                "Orderer": {
                    "OrdererType": "etcdraft",
                    # A lone transaction waits up to BatchTimeout for its block.
                    "BatchTimeout": "250ms",
                    "BatchSize": {
                        "MaxMessageCount": 100,
                        "AbsoluteMaxBytes": "10 MB",
                        "PreferredMaxBytes": "2 MB",
                    },
                    "EtcdRaft": {"Consenters": consenters},
                    "Organizations": [orderer_org],
                    "Policies": {
                        **CHANNEL_POLICIES,
                        "BlockValidation": _implicit("ANY Writers"),
                    },
                    "Capabilities": {"V2_0": True},
                },
                "Application": {
                    "Organizations": members,
                    "Policies": {
                        **CHANNEL_POLICIES,
                        # Chaincode definitions need a majority of the members' approvals.
                        "LifecycleEndorsement": _implicit("MAJORITY Endorsement"),
                        "Endorsement": _implicit("MAJORITY Endorsement"),
                    },
                    "Capabilities": {"V2_5": True},
                },
            }
        }
    }


def _write(data: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")


def _pair(spec: str) -> tuple[str, str]:
    org_id, sep, address = spec.partition("=")
    if not sep:
        raise ConfigError(f"{spec!r} is not ORG=HOST:PORT")
    return org_id, address


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netconfig")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sh = sub.add_parser("shell")
    sh.add_argument("definition", type=Path)
    crypto = sub.add_parser("crypto")
    crypto.add_argument("definition", type=Path)
    crypto.add_argument("out", type=Path)
    ctx = sub.add_parser("configtx")
    ctx.add_argument("definition", type=Path)
    ctx.add_argument("state", type=Path)
    ctx.add_argument("out", type=Path)
    ctx.add_argument("--orderer", action="append", default=[], help="HOST:PORT")
    ctx.add_argument("--peer", action="append", default=[], help="ORG=HOST:PORT")
    args = parser.parse_args(argv)
    try:
        definition = Definition.load(args.definition)
        if args.cmd == "shell":
            print(shell(definition))
        elif args.cmd == "crypto":
            _write(crypto_config(definition), args.out)
        else:
            peers = dict(_pair(spec) for spec in args.peer)
            _write(configtx(definition, args.state, args.orderer, peers), args.out)
    except ConfigError as error:
        print(f"{args.definition}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
