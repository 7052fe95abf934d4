"""The consortium definition as its members write it: a TOML file.

    name = "east-basin"
    locations = ["KE01", "KE0101"]        # the P-codes the members work in
    witness_quorum = 0

    [[members]]
    id = "RIVER-AID"
    role = "agency"                       # agency, auditor or donor
    display_name = "River Aid"
    iati_ref = "XM-EXAMPLE-1"             # IATI organisation identifier (optional)
    iati_type = "22"                      # IATI OrganisationType code (optional)

    [[programmes]]
    code = "MPCA-2026"
    currency = "KES"
    ceiling = "50000"                     # largest amount of one entitlement

    [[witnesses]]                         # members that run a witness (optional)
    org = "RIVER-AID"
    vkey = "..."                          # as `ledger-gw witness init` prints it
    url = "https://witness.river-aid.example"

    [endorsement]                         # Fabric: any `required` of `among` endorse
    required = 2
    among = ["RIVER-AID", "..."]

Read with the standard library's tomllib, its shape checked by a marshmallow schema,
its meaning (the name, programme codes, P-codes, roles, display names, keys, who may
endorse) by `Definition` itself, as for the older JSON form; every error names the file
and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from chaincode.stub import ROLES, Role
from ledger_gw.consortium import Ceiling, Definition, Endorsement, WitnessListing
from ledger_gw.errors import ConfigError
from ledger_gw.identity import Profile

_NONEMPTY = validate.Length(min=1)


class _Member(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=_NONEMPTY)
    role = fields.String(required=True, validate=validate.OneOf(sorted(ROLES)))
    display_name = fields.String(required=True, validate=_NONEMPTY)
    iati_ref = fields.String(load_default=None)
    iati_type = fields.String(load_default=None)


class _Programme(Schema):
    class Meta:
        unknown = RAISE

    code = fields.String(required=True, validate=_NONEMPTY)
    currency = fields.String(required=True, validate=_NONEMPTY)
    ceiling = fields.String(required=True, validate=_NONEMPTY)


class _Witness(Schema):
    class Meta:
        unknown = RAISE

    org = fields.String(required=True, validate=_NONEMPTY)
    vkey = fields.String(required=True, validate=_NONEMPTY)
    url = fields.String(required=True, validate=_NONEMPTY)


class _Endorsement(Schema):
    class Meta:
        unknown = RAISE

    required = fields.Integer(required=True, strict=True)
    among = fields.List(fields.String(), required=True, validate=validate.Length(min=1))


class DefinitionSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True)
    members = fields.List(fields.Nested(_Member), required=True, validate=validate.Length(min=1))
    programmes = fields.List(fields.Nested(_Programme), load_default=list)
    locations = fields.List(fields.String(), load_default=list)
    witnesses = fields.List(fields.Nested(_Witness), load_default=list)
    witness_quorum = fields.Integer(load_default=0, strict=True)
    endorsement = fields.Nested(_Endorsement, load_default=None)


def _first(messages: object, where: str = "") -> tuple[str, str]:
    """The first error marshmallow found, as (field path, message)."""
    if isinstance(messages, Mapping):
        key, value = next(iter(messages.items()))
        step = f"[{key}]" if isinstance(key, int) else (f".{key}" if where else str(key))
        return _first(value, where + step)
    if isinstance(messages, list) and messages:
        return _first(messages[0], where)
    return where or "(file)", str(messages)


def definition_from_toml(data: Mapping[str, Any]) -> Definition:
    """A definition from parsed TOML; ConfigError("field: what is allowed") otherwise."""
    try:
        loaded = DefinitionSchema().load(data)
    except ValidationError as exc:
        field, message = _first(exc.messages)
        raise ConfigError(f"{field}: {message}") from None
    members = loaded["members"]
    programmes = loaded["programmes"]
    codes = tuple(p["code"] for p in programmes)
    endorsement = loaded["endorsement"]
    return Definition(
        name=loaded["name"],
        members=tuple((m["id"], cast(Role, m["role"])) for m in members),
        programmes=codes,
        witnesses=tuple(WitnessListing(w["org"], w["vkey"], w["url"]) for w in loaded["witnesses"]),
        witness_quorum=loaded["witness_quorum"],
        locations=tuple(loaded["locations"]),
        ceilings={p["code"]: Ceiling(p["currency"], p["ceiling"]) for p in programmes},
        profiles={
            m["id"]: Profile(m["display_name"], m["iati_ref"], m["iati_type"]) for m in members
        },
        endorsement=None
        if endorsement is None
        else Endorsement(endorsement["required"], tuple(endorsement["among"])),
    )


def load_definition(path: Path) -> Definition:
    """The definition in the TOML file at ``path``; one ConfigError naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read consortium definition {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return definition_from_toml(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
