"""The consortium file: who the members are, their roles, CAs and witness keys.

It is the embedded ledger's equivalent of a Fabric channel configuration, and the
trust anchor an offline auditor starts from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from chaincode.stub import ROLES, Role
from ledger_gw.errors import ConfigError
from ledger_gw.identity import Authenticator, Organisation, cert_pem, load_certificate

_ORG_ID = re.compile(r"^[A-Z][A-Z0-9-]{1,31}$")


def _member(org_id: str, role: str, seen: set[str] | dict[str, Any]) -> Role:
    """A member's role, once its ID, role and uniqueness check out."""
    if not _ORG_ID.match(org_id):
        raise ConfigError(f"organisation ID {org_id!r} is malformed")
    if role not in ROLES:
        raise ConfigError(f"organisation {org_id} has unknown role {role!r}")
    if org_id in seen:
        raise ConfigError(f"organisation {org_id} is listed twice")
    return role


def _json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} is not a JSON object")
    return data


@dataclass(frozen=True)
class Definition:
    """What the members agreed before any key exists: who they are, their roles, the
    programme codes. ``ledger-gw init`` turns it into a consortium with keys."""

    name: str
    members: tuple[tuple[str, Role], ...]  # (organisation ID, role)
    programmes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for org_id, role in self.members:
            _member(org_id, role, seen)
            seen.add(org_id)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Definition:
        """``{"name", "members": [{"id", "role"}], "programmes": [...]}``."""
        try:
            members = tuple((str(m["id"]), cast(Role, str(m["role"]))) for m in data["members"])
            programmes = tuple(str(p) for p in data.get("programmes", ()))
            return cls(str(data["name"]), members, programmes)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"consortium definition is missing {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> Definition:
        return cls.from_dict(_json_object(path, "consortium definition"))


@dataclass(frozen=True)
class Consortium:
    name: str
    origin: str  # checkpoint origin line of the ledger
    log_vkey: str  # the ledger node's Ed25519 note verifier key
    organisations: dict[str, Organisation]
    # Programme codes the members have agreed on. The contract can only check a code's
    # pattern, and an all-capital name fits it; gateways refuse codes not listed here.
    programmes: tuple[str, ...] = ()

    def authenticator(self) -> Authenticator:
        return Authenticator(self.organisations)

    def organisation(self, org_id: str) -> Organisation:
        try:
            return self.organisations[org_id]
        except KeyError:
            raise ConfigError(f"{org_id} is not a member of consortium {self.name}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "log_vkey": self.log_vkey,
            "programmes": list(self.programmes),
            "organisations": [
                {
                    "id": o.org_id,
                    "role": o.role,
                    "ca_certificate": cert_pem(o.ca_cert),
                    "witness_vkey": o.witness_vkey,
                }
                for o in self.organisations.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Consortium:
        try:
            orgs: dict[str, Organisation] = {}
            for item in data["organisations"]:
                org_id = str(item["id"])
                role = _member(org_id, str(item["role"]), orgs)
                orgs[org_id] = Organisation(
                    org_id,
                    role,
                    load_certificate(item["ca_certificate"]),
                    str(item["witness_vkey"]),
                )
            programmes = tuple(str(p) for p in data.get("programmes", ()))
            return cls(
                str(data["name"]), str(data["origin"]), str(data["log_vkey"]), orgs, programmes
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"consortium file is missing {exc}") from exc

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Consortium:
        return cls.from_dict(_json_object(path, "consortium file"))
