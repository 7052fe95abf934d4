"""The consortium file: who the members are, their roles, CAs, and their witnesses.

It is the embedded ledger's equivalent of a Fabric channel configuration, and the
trust anchor an offline auditor starts from. A member that runs a witness lists its
cosignature key and URL; ``witness_quorum`` is how many witness cosignatures make a
checkpoint trusted (the log anchors bundles there, verifiers default to it).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chaincode.fields import PROGRAMME, is_code, parse_amount
from chaincode.stub import ROLES, Role
from ledger_gw import strict_json
from ledger_gw.errors import ConfigError, MalformedError
from ledger_gw.files import PUBLIC, locked, write_file
from ledger_gw.handover import keys as handover_keys
from ledger_gw.identity import (
    Authenticator,
    KeyPeriod,
    Organisation,
    Profile,
    cert_pem,
    certificate_fingerprint,
    load_certificate,
)
from ledger_gw.log.checkpoint import (
    CheckpointError,
    RetiredWitness,
    VerifiedCheckpoint,
    open_checkpoint,
)
from ledger_gw.log.note import NoteError, NoteVerifier, SigType

_ORG_ID = re.compile(r"[A-Z][A-Z0-9-]{1,31}")  # fullmatch: "$" admits a final newline
# The consortium's name: its log's origin is ledger.local/<name>, so no "/", no space.
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
MAX_DISPLAY_NAME = 200
LOCK_FILE = ".consortium.lock"  # beside the consortium file: see `changing`
# What a name shown to people and written to exports must not hold: controls (a terminal
# escape, a line break), format characters (a bidirectional override reorders what is
# shown), line and paragraph separators, and what XML cannot carry (lone surrogates,
# unassigned code points). The zero-width (non-)joiners are format characters that
# Persian and Indic scripts need.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
_JOINERS = frozenset("\u200c\u200d")
PCODE = re.compile(r"[A-Z]{2}[0-9]{0,10}")
_CURRENCY = re.compile(r"[A-Z]{3}")
# An IATI organisation identifier: a registration agency prefix, then the agency's own
# code, without the characters IATI forbids in identifiers (space, / & | ?).
IATI_REF = re.compile(r"[A-Z]{2}(-[A-Za-z0-9_.:]+)+")
#: IATI's OrganisationType codelist.
IATI_TYPES = {
    "10": "Government",
    "11": "Local Government",
    "15": "Other Public Sector",
    "21": "International NGO",
    "22": "National NGO",
    "23": "Regional NGO",
    "24": "Partner Country based NGO",
    "30": "Public Private Partnership",
    "40": "Multilateral",
    "60": "Foundation",
    "70": "Private Sector",
    "71": "Private Sector in Provider Country",
    "72": "Private Sector in Aid Recipient Country",
    "73": "Private Sector in Third Country",
    "80": "Academic, Training and Research",
    "90": "Other",
}


@dataclass(frozen=True)
class Ceiling:
    """The largest amount one entitlement of a programme may hold, and its currency:
    the members' own bound, far tighter than the contract's, so that a phone number
    or an ID number written as an amount is refused."""

    currency: str
    max_amount: str

    def __post_init__(self) -> None:
        if not _CURRENCY.fullmatch(self.currency):
            raise ConfigError(f"ceiling currency {self.currency!r} is not an ISO 4217 code")
        if parse_amount(self.max_amount) is None:
            raise ConfigError(f"ceiling {self.max_amount!r} is not a positive amount")

    @property
    def limit(self) -> Decimal:
        return Decimal(self.max_amount)

    def to_dict(self) -> dict[str, str]:
        return {"currency": self.currency, "max_amount": self.max_amount}


def _vocabulary(
    locations: Iterable[object], ceilings: Mapping[str, Any], programmes: tuple[str, ...]
) -> tuple[tuple[str, ...], dict[str, Ceiling]]:
    """The programme codes, administrative codes and programme ceilings of a definition
    or file, checked: a programme code is one the contract takes, and no name or date."""
    for programme in programmes:
        if not is_code(PROGRAMME, programme):
            raise ConfigError(
                f"programmes: {programme[:40]!r} is not a programme code (capitals, digits "
                "and '-', 2 to 32 of them, no date or ID-number shape)"
            )
    if len(set(programmes)) != len(programmes):
        raise ConfigError("programmes: a programme code is listed twice")
    codes = tuple(str(code) for code in locations)
    bad = [code for code in codes if not PCODE.fullmatch(code)]
    if bad:
        raise ConfigError(f"locations must be P-codes (country code and digits): {bad[:3]}")
    if len(set(codes)) != len(codes):
        raise ConfigError("a location is listed twice")
    limits: dict[str, Ceiling] = {}
    for programme, ceiling in ceilings.items():
        if programme not in programmes:
            raise ConfigError(f"ceiling for {programme}, which is not a listed programme")
        if isinstance(ceiling, Ceiling):
            limits[programme] = ceiling
        else:
            limits[programme] = Ceiling(str(ceiling["currency"]), str(ceiling["max_amount"]))
    return codes, limits


def _member(org_id: str, role: str, seen: set[str] | dict[str, Any]) -> Role:
    """A member's role, once its ID, role and uniqueness check out."""
    if not _ORG_ID.fullmatch(org_id):
        raise ConfigError(f"organisation ID {org_id!r} is malformed")
    if role not in ROLES:
        raise ConfigError(f"organisation {org_id} has unknown role {role!r}")
    if org_id in seen:
        raise ConfigError(f"organisation {org_id} is listed twice")
    return role


def _witness_key(org_id: str, vkey: str, *, legacy: bool = False) -> str:
    """A witness's cosignature (0x04) vkey; files written before witnesses ran apart
    (``legacy``) may hold plain Ed25519 (0x01) keys, which verify cosignatures too."""
    try:
        verifier = NoteVerifier.from_vkey(vkey)
    except NoteError as exc:
        raise ConfigError(f"the witness key of {org_id} is malformed: {exc}") from None
    allowed = (SigType.COSIGNATURE_V1, SigType.ED25519) if legacy else (SigType.COSIGNATURE_V1,)
    if verifier.sig_type not in allowed:
        raise ConfigError(
            f"the witness key of {org_id} must be a cosignature (0x04) key, "
            "as `ledger-gw witness init` prints it"
        )
    return vkey


def _witness_url(org_id: str, url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        good = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query
        parts.port  # noqa: B018  (raises ValueError for a port that is none)
    except ValueError:  # "http://[x", a port out of range
        good = False
    if not good:
        raise ConfigError(f"the witness URL of {org_id} must be an http(s) base URL: {url!r}")
    return url.rstrip("/")


def _quorum(quorum: object, witnesses: int) -> int:
    if isinstance(quorum, bool) or not isinstance(quorum, int) or not 0 <= quorum <= witnesses:
        raise ConfigError(
            f"witness_quorum must be a whole number from 0 to {witnesses} "
            f"(the witnesses listed), not {quorum!r}"
        )
    if 0 < quorum <= witnesses // 2:  # two quorums must share a witness, who refuses a fork
        raise ConfigError(
            f"witness_quorum {quorum} of {witnesses} witnesses lets two sets that share none "
            f"each cosign a different history: make it more than half, "
            f"{witnesses // 2 + 1} or more (or 0, to require none)"
        )
    return quorum


def check_profile(org_id: str, profile: Profile) -> Profile:
    """A member's names, checked: a display name, and IATI's own forms of its reference
    and type (what an IATI export writes as ``ref`` and ``type``)."""
    name = profile.display_name
    if not name.strip():
        raise ConfigError(f"the display name of {org_id} is empty")
    if len(name) > MAX_DISPLAY_NAME:
        raise ConfigError(
            f"the display name of {org_id} is longer than {MAX_DISPLAY_NAME} characters"
        )
    unshown = [c for c in name if unicodedata.category(c) in _UNSHOWN and c not in _JOINERS]
    if unshown:
        raise ConfigError(
            f"the display name of {org_id} holds U+{ord(unshown[0]):04X}, a control or "
            "invisible character: a name is shown to people and written to exports as it is"
        )
    if profile.iati_ref is not None and not IATI_REF.fullmatch(profile.iati_ref):
        raise ConfigError(
            f"the IATI reference of {org_id}, {profile.iati_ref!r}, is not an IATI "
            "organisation identifier (e.g. XM-DAC-41121)"
        )
    if profile.iati_type is not None and profile.iati_type not in IATI_TYPES:
        raise ConfigError(
            f"the IATI type of {org_id}, {profile.iati_type!r}, is not an IATI "
            f"OrganisationType code ({', '.join(IATI_TYPES)})"
        )
    return profile


@dataclass(frozen=True)
class Endorsement:
    """The Fabric endorsement policy the members agreed: any ``required`` of the peers
    of ``among`` must endorse a write."""

    required: int
    among: tuple[str, ...]

    def check(self, members: Mapping[str, str]) -> None:
        """Every endorser a member with a peer (not a donor), and a reachable count."""
        for org_id in self.among:
            if org_id not in members:
                raise ConfigError(f"endorsement: {org_id} is not a member")
            if members[org_id] == "donor":
                raise ConfigError(f"endorsement: {org_id} is a donor, which runs no peer")
        if len(set(self.among)) != len(self.among):
            raise ConfigError("endorsement: an endorser is listed twice")
        if not 1 <= self.required <= len(self.among):
            raise ConfigError(
                f"endorsement: required must be from 1 to {len(self.among)} "
                f"(the endorsers listed), not {self.required}"
            )

    def fabric(self) -> str:
        """The signature policy as `peer lifecycle chaincode` takes it."""
        peers = ",".join(f"'{org}.peer'" for org in self.among)
        return f"OutOf({self.required},{peers})"

    def to_dict(self) -> dict[str, Any]:
        return {"required": self.required, "among": list(self.among)}


@dataclass(frozen=True)
class WitnessListing:
    """A member's witness as the members agreed it: its key and where it listens."""

    org_id: str
    vkey: str
    url: str

    def __post_init__(self) -> None:
        _witness_key(self.org_id, self.vkey)
        _witness_url(self.org_id, self.url)


def _json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    return json_object(text, f"{what} {path}")


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """The JSON object of a consortium file, read strictly (:mod:`ledger_gw.strict_json`):
    a key given twice is refused (``duplicate_key``), where Python's parser lets the last
    one win, and a verifier would read ``"witness_quorum": 2, "witness_quorum": 0`` as 0
    while a reader keeping the first sees 2."""
    try:
        value = strict_json.loads(data)
    except MalformedError as exc:
        code = None if exc.code == MalformedError.code else exc.code  # not JSON: config_error
        raise ConfigError(f"cannot read {what}: {exc}", code=code) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{what} is not a JSON object")
    return value


def _listed(data: Mapping[str, Any], key: str) -> list[Any]:
    """A field holding a list (absent: none): a string is not a list of its letters."""
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list, not {type(value).__name__}")
    return value


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A field holding a list of strings (absent: none)."""
    values = _listed(data, key)
    if not all(isinstance(value, str) for value in values):
        raise ConfigError(f"{key} must be a list of strings")
    return tuple(values)


@dataclass(frozen=True)
class Definition:
    """What the members agreed before any key exists: who they are, their roles, the
    programme codes. ``ledger-gw init`` turns it into a consortium with keys."""

    name: str
    members: tuple[tuple[str, Role], ...]  # (organisation ID, role)
    programmes: tuple[str, ...] = ()
    # The members that run a witness (each made its key with `ledger-gw witness init`).
    witnesses: tuple[WitnessListing, ...] = ()
    witness_quorum: int = 0
    # The administrative codes (P-codes) the members work in, and per programme the
    # largest amount of one entitlement; empty means "not agreed" (shape checks only).
    locations: tuple[str, ...] = ()
    ceilings: Mapping[str, Ceiling] = field(default_factory=dict)
    # How each member is named to people and in IATI exports (organisation → Profile),
    # and the Fabric endorsement policy; empty and None when not agreed.
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    endorsement: Endorsement | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(
                f"name: {str(self.name)[:70]!r} is not a consortium name (lower-case letters, "
                "digits, '.' and '-', at most 63, from a letter or digit)"
            )
        _vocabulary(self.locations, self.ceilings, self.programmes)
        seen: dict[str, str] = {}
        for org_id, role in self.members:
            _member(org_id, role, seen)
            seen[org_id] = role
        _check_witnesses(((w.org_id, w.vkey) for w in self.witnesses), seen)
        _quorum(self.witness_quorum, len(self.witnesses))
        for org_id, profile in self.profiles.items():
            if org_id not in seen:
                raise ConfigError(f"names given for {org_id}, which is not a member")
            check_profile(org_id, profile)
        if self.endorsement is not None:
            self.endorsement.check(seen)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Definition:
        """``{"name", "members": [{"id", "role"}], "programmes": [...], "witnesses":
        [{"org", "vkey", "url"}], "witness_quorum": n, "locations": [P-code, ...],
        "ceilings": {programme: {"currency", "max_amount"}}}``."""
        try:
            members = tuple(
                (str(m["id"]), cast(Role, str(m["role"]))) for m in _listed(data, "members")
            )
            programmes = _strings(data, "programmes")
            witnesses = tuple(
                WitnessListing(str(w["org"]), str(w["vkey"]), str(w["url"]))
                for w in _listed(data, "witnesses")
            )
            quorum = data.get("witness_quorum", 0)
            locations, ceilings = _vocabulary(
                _strings(data, "locations"), data.get("ceilings", {}), programmes
            )
            return cls(data["name"], members, programmes, witnesses, quorum, locations, ceilings)
        except KeyError as exc:
            raise ConfigError(f"consortium definition is missing {exc}") from exc
        except (TypeError, AttributeError):
            raise ConfigError(
                "consortium definition is malformed: members and witnesses are lists of "
                "objects, ceilings an object"
            ) from None

    @classmethod
    def load(cls, path: Path) -> Definition:
        """A definition file: TOML (see ledger_gw.consortium_toml), or the older JSON."""
        if path.suffix == ".toml":
            from ledger_gw.consortium_toml import load_definition

            return load_definition(path)
        data = _json_object(path, "consortium definition")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Consortium:
    name: str
    origin: str  # checkpoint origin line of the ledger
    log_vkey: str  # the ledger node's Ed25519 note verifier key
    organisations: dict[str, Organisation]
    # Programme codes the members have agreed on. The contract can only check a code's
    # pattern, and an all-capital name fits it; gateways refuse codes not listed here.
    programmes: tuple[str, ...] = ()
    witness_quorum: int = 0
    # What the gateway's guard checks values against (see Definition); files written
    # before these were agreed have neither, and the guard falls back to shapes.
    locations: tuple[str, ...] = ()
    ceilings: Mapping[str, Ceiling] = field(default_factory=dict)
    endorsement: Endorsement | None = None

    def __post_init__(self) -> None:
        _vocabulary(self.locations, self.ceilings, self.programmes)
        listed = [(o.org_id, o.witness_vkey) for o in self.organisations.values() if o.witness_vkey]
        _check_witnesses(listed, self.organisations, self.log_vkey)
        _quorum(self.witness_quorum, len(listed))
        for org in self.organisations.values():
            if org.profile is not None:
                check_profile(org.org_id, org.profile)
        if self.endorsement is not None:
            self.endorsement.check({o: m.role for o, m in self.organisations.items()})

    def profile(self, org_id: str) -> Profile:
        """How ``org_id`` is named in reports: its agreed profile, else its ID alone."""
        return self.organisation(org_id).profile or Profile(org_id)

    def check_new_member(self, org_id: str, role: Role) -> None:
        """ConfigError unless ``org_id`` (well formed, new) may join with ``role``."""
        if org_id in self.organisations:
            raise ConfigError(f"{org_id} is already a member of consortium {self.name}")
        _member(org_id, role, self.organisations)

    def with_member(self, org: Organisation) -> Consortium:
        """This consortium with a new member (its CA and first signing key listed)."""
        self.check_new_member(org.org_id, org.role)
        _check_own_keys([*self.organisations.values(), org])
        return replace(self, organisations={**self.organisations, org.org_id: org})

    def with_rotated_key(self, org_id: str, cert_pem_text: str, at: dt.datetime) -> Consortium:
        """``org_id``'s signing key replaced at ``at``: the current one closes there and
        keeps its period (what it signed before still verifies), the new one opens."""
        org = self.organisation(org_id)
        cert = load_certificate(cert_pem_text)
        try:
            cert.verify_directly_issued_by(org.ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            raise ConfigError(f"the new certificate is not issued by {org_id}'s CA") from None
        closed = _closed(org, at)
        opened = KeyPeriod(certificate_fingerprint(cert), at)
        if any(p.fingerprint == opened.fingerprint for p in closed):
            raise ConfigError(f"that certificate was already a signing key of {org_id}")
        rotated = replace(org, signing_keys=(*closed, opened))
        return replace(self, organisations={**self.organisations, org_id: rotated})

    def with_retired_member(self, org_id: str, at: dt.datetime) -> Consortium:
        """``org_id`` signing nothing from ``at`` on: its current key closes there, as in a
        rotation, and none opens. It stays listed, its CA and keys with it, so what it
        signed before still verifies; dropped from the file, its history would not."""
        org = self.organisation(org_id)
        if not any(p.valid_until is None for p in org.signing_keys):
            raise ConfigError(
                f"{org_id} has no signing key in force to retire"
                if org.signing_keys
                else f"the consortium file lists no signing keys of {org_id}: list them "
                "first (`ledger-gw key rotate` does), or any certificate its CA issued signs"
            )
        retired = replace(org, signing_keys=_closed(org, at))
        updated = replace(self, organisations={**self.organisations, org_id: retired})
        _check_reachable(self, updated, f"retiring {org_id}")
        return updated

    def has_left(self, org_id: str) -> bool:
        """Whether ``org_id`` is retired (its signing keys all closed): what its witness
        cosigns from then on counts towards no quorum, so the log pushes to it no more."""
        return _left_at(self.organisation(org_id)) is not None

    def witnesses_in_force(self) -> dict[str, str]:
        """Organisation → its witness's vkey, for the members that run one and have not
        left: the witnesses that can cosign a new checkpoint towards the quorum."""
        return {org: vkey for org, vkey in self.witness_keys().items() if not self.has_left(org)}

    def witness_verifiers(self) -> list[NoteVerifier]:
        """The members' witness keys: whose cosignatures count towards the quorum. A
        retired member's counts only dated before it left: it signs nothing from then on,
        and its witness, still running, would otherwise make up a quorum for the log."""
        return [
            _witness_verifier(o.witness_vkey, o)
            for o in self.organisations.values()
            if o.witness_vkey
        ]

    def open_witnessed(self, note: str) -> VerifiedCheckpoint:
        """A checkpoint of this consortium's log, signed with its key and cosigned by its
        witness quorum; CheckpointError otherwise."""
        return open_checkpoint(
            note,
            NoteVerifier.from_vkey(self.log_vkey),
            self.witness_verifiers(),
            self.witness_quorum,
            origin=self.origin,
        )

    def witnessed(self, note: str) -> VerifiedCheckpoint | None:
        """The note opened, when it carries this consortium's witness quorum; else None.
        Its signature lines are counted first (the log's, then one per cosignature):
        one with too few to meet the quorum has none of them verified."""
        if note.count("\n\u2014 ") <= self.witness_quorum:
            return None
        try:
            return self.open_witnessed(note)
        except CheckpointError:
            return None

    def witness_keys(self) -> dict[str, str]:
        """Organisation → its witness's vkey, for the members that run one, retired ones
        included: what they cosigned before they left still counts."""
        return {o.org_id: o.witness_vkey for o in self.organisations.values() if o.witness_vkey}

    def witness_urls(self) -> dict[str, tuple[str, str]]:
        """Organisation → (its witness's URL, vkey), for the witnesses listed with a URL,
        retired members' included: the log pushes only to those :meth:`has_left` does
        not name."""
        return {
            o.org_id: (o.witness_url, o.witness_vkey)
            for o in self.organisations.values()
            if o.witness_vkey and o.witness_url
        }

    def with_witness(
        self, org_id: str, vkey: str, url: str, quorum: int | None = None
    ) -> Consortium:
        """This consortium with ``org_id``'s witness listed (replacing an earlier one).

        Refused for a member that left: its witness would count for no one, and the key
        its past cosignatures verify with would be replaced."""
        org = self.organisation(org_id)
        if _left_at(org) is not None:
            raise ConfigError(
                f"{org_id} has left the consortium: what its witness cosigns counts towards "
                "no quorum, and a new key would leave what it cosigned before it left "
                "unverified; list a witness of a member in force",
                code="member_retired",
            )
        listed = replace(
            org, witness_vkey=_witness_key(org_id, vkey), witness_url=_witness_url(org_id, url)
        )
        orgs = {**self.organisations, org_id: listed}
        updated = replace(
            self,
            organisations=orgs,
            witness_quorum=self.witness_quorum if quorum is None else quorum,
        )
        quorum_given = "" if quorum is None else f" with quorum {quorum}"
        _check_reachable(self, updated, f"listing {org_id}'s witness{quorum_given}")
        return updated

    def authenticator(self) -> Authenticator:
        return Authenticator(self.organisations)

    def handover_key(self, org_id: str) -> X25519PublicKey:
        """The key a referral hand-over to `org_id` is sealed to, as the members published it."""
        text = self.organisation(org_id).handover_key
        if text is None:
            raise ConfigError(f"{org_id} publishes no hand-over key in consortium {self.name}")
        return handover_keys.parse_public(org_id, text)

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
            "witness_quorum": self.witness_quorum,
            "organisations": [_org_dict(o) for o in self.organisations.values()],
            **({"locations": list(self.locations)} if self.locations else {}),
            **(
                {"ceilings": {p: c.to_dict() for p, c in self.ceilings.items()}}
                if self.ceilings
                else {}
            ),
            **({"endorsement": self.endorsement.to_dict()} if self.endorsement else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Consortium:
        try:
            orgs: dict[str, Organisation] = {}
            for item in data["organisations"]:
                org_id = str(item["id"])
                role = _member(org_id, str(item["role"]), orgs)
                vkey, url = item.get("witness_vkey"), item.get("witness_url")
                orgs[org_id] = Organisation(
                    org_id,
                    role,
                    load_certificate(item["ca_certificate"]),
                    None if vkey is None else _witness_key(org_id, str(vkey), legacy=url is None),
                    None if url is None else _witness_url(org_id, str(url)),
                    _profile_from(item),
                    _periods(org_id, item.get("signing_keys", ())),
                    _handover_key(org_id, item.get("handover_key")),
                )
            _check_own_keys(orgs.values())
            programmes = _strings(data, "programmes")
            # Files from before witnesses ran apart have keys but no URL and no quorum:
            # their cosignatures still verify, nobody is pushed to, nothing is required.
            locations, ceilings = _vocabulary(
                _strings(data, "locations"), data.get("ceilings", {}), programmes
            )
            endorsement = data.get("endorsement")
            return cls(
                str(data["name"]),
                str(data["origin"]),
                str(data["log_vkey"]),
                orgs,
                programmes,
                data.get("witness_quorum", 0),
                locations,
                ceilings,
                None if endorsement is None else _endorsement(endorsement),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"consortium file is missing {exc}") from exc

    def save(self, path: Path) -> None:
        """Written whole or not at all, and on disk when this returns: readers never see
        half a file, and a crash never leaves an empty one, nor the old one behind files
        written after it (a rotated key, a new member's directory)."""
        write_file(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode(), PUBLIC)

    @classmethod
    def load(cls, path: Path) -> Consortium:
        return cls.from_dict(_json_object(path, "consortium file"))


def _left_at(org: Organisation) -> dt.datetime | None:
    """When ``org`` left: the end of its last signing key, once all are closed. None
    while one is in force, or when none is listed (any its CA issued then signs)."""
    ends = [p.valid_until for p in org.signing_keys]
    if not ends or None in ends:
        return None
    return max(end for end in ends if end is not None)


def _witness_verifier(vkey: str, org: Organisation) -> NoteVerifier:
    """``org``'s witness key ``vkey``, retired when ``org`` is: its signing keys all closed."""
    verifier = NoteVerifier.from_vkey(vkey)
    left = _left_at(org)
    if left is None:
        return verifier
    until = int(left.timestamp())
    return RetiredWitness(verifier.name, verifier.sig_type, verifier.public_key, until)


def _shortfall(consortium: Consortium) -> int:
    """How many more witnesses of members in force the quorum needs than there are."""
    return max(0, consortium.witness_quorum - len(consortium.witnesses_in_force()))


def _check_reachable(before: Consortium, after: Consortium, change: str) -> None:
    """ConfigError (``witness_quorum_unreachable``) when ``change`` leaves the quorum
    further out of reach of the witnesses of members in force than it was: a retired
    member's witness counts for no new checkpoint, so none would be witnessed again.
    A file already short (written before this was checked) may still be changed
    towards its repair, one witness at a time."""
    if _shortfall(after) <= _shortfall(before):
        return
    staying, listed = len(after.witnesses_in_force()), len(after.witness_keys())
    lower = (
        f", or lower witness_quorum to {staying} (`add-witness --quorum`)"
        if staying > listed // 2
        else f"; a lower quorum will not do, as it must stay more than half of the {listed} "
        "witnesses listed, retired members' included (or be 0, requiring none)"
    )
    raise ConfigError(
        f"{change} leaves {staying} witness(es) of members in force, fewer than the "
        f"witness_quorum of {after.witness_quorum}: no new checkpoint could be witnessed. "
        f"First list another member's witness (`ledger-gw consortium add-witness`){lower}",
        code="witness_quorum_unreachable",
    )


def _endorsement(data: Mapping[str, Any]) -> Endorsement:
    """The policy a consortium file lists: its ``among`` a list of member IDs, never a
    string read as its letters."""
    among = data["among"]
    if not isinstance(among, list) or not all(isinstance(org_id, str) for org_id in among):
        raise ConfigError(f"endorsement.among must be a list of member IDs, not {among!r:.70}")
    return Endorsement(data["required"], tuple(among))


def _org_dict(o: Organisation) -> dict[str, Any]:
    listed: dict[str, Any] = {"id": o.org_id, "role": o.role, "ca_certificate": cert_pem(o.ca_cert)}
    if o.witness_vkey is not None:
        listed["witness_vkey"] = o.witness_vkey
    if o.witness_url is not None:
        listed["witness_url"] = o.witness_url
    if o.profile is not None:
        listed["display_name"] = o.profile.display_name
        if o.profile.iati_ref is not None:
            listed["iati_ref"] = o.profile.iati_ref
        if o.profile.iati_type is not None:
            listed["iati_type"] = o.profile.iati_type
    if o.handover_key is not None:
        listed["handover_key"] = o.handover_key
    if o.signing_keys:
        listed["signing_keys"] = [
            {
                "fingerprint": p.fingerprint,
                "valid_from": _instant(p.valid_from),
                **({} if p.valid_until is None else {"valid_until": _instant(p.valid_until)}),
            }
            for p in o.signing_keys
        ]
    return listed


def _handover_key(org_id: str, text: object) -> str | None:
    if text is None:
        return None
    handover_keys.parse_public(org_id, str(text))
    return str(text)


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse_instant(org_id: str, text: object) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        raise ConfigError(f"a signing key period of {org_id} has a bad time {text!r}") from None
    if moment.tzinfo is None:
        raise ConfigError(f"a signing key period of {org_id} has a time without a zone")
    return moment


def _profile_from(item: Mapping[str, Any]) -> Profile | None:
    if "display_name" not in item:
        return None
    ref, kind = item.get("iati_ref"), item.get("iati_type")
    return Profile(
        str(item["display_name"]),
        None if ref is None else str(ref),
        None if kind is None else str(kind),
    )


def _periods(org_id: str, items: Iterable[Mapping[str, Any]]) -> tuple[KeyPeriod, ...]:
    """A member's signing keys, each in force from the end of the one before it, as
    rotations list them: a period that ends before it begins, or overlaps an earlier
    one (a hand edit), would leave what a key signed valid or not by the file's slip."""
    periods = tuple(_period_from(org_id, item) for item in items)
    for before, after in itertools.pairwise(periods):
        if before.valid_until is None or after.valid_from < before.valid_until:
            raise ConfigError(
                f"{org_id}'s signing keys overlap: each begins when the one before ends"
            )
    for p in periods:
        if p.valid_until is not None and p.valid_until < p.valid_from:
            raise ConfigError(f"{org_id}'s signing key {p.fingerprint} ends before it begins")
    return periods


def _period_from(org_id: str, item: Mapping[str, Any]) -> KeyPeriod:
    until = item.get("valid_until")
    return KeyPeriod(
        str(item["fingerprint"]),
        _parse_instant(org_id, item["valid_from"]),
        None if until is None else _parse_instant(org_id, until),
    )


def _closed(org: Organisation, at: dt.datetime) -> tuple[KeyPeriod, ...]:
    """``org``'s signing keys with the current one's period closed at ``at``, which must
    come after every time they name: earlier, the current key would close before it
    opened, so all it signed would fail, and a key opened at ``at`` would be given time
    in which an earlier one was the key."""
    named = [t for p in org.signing_keys for t in (p.valid_from, p.valid_until) if t is not None]
    if named and at <= max(named):
        raise ConfigError(
            f"a change of {org.org_id}'s signing key at {_instant(at)} is not after "
            f"{_instant(max(named))}, when its key list last changed: is this clock behind?"
        )
    return tuple(
        replace(p, valid_until=at) if p.valid_until is None else p for p in org.signing_keys
    )


def _check_own_keys(orgs: Iterable[Organisation]) -> None:
    """Each member has a CA key and a hand-over key of its own: one CA key listed for two
    members would issue certificates that each of them, by name, is taken to have
    signed; one hand-over key, open packages sealed to either."""
    owners: dict[tuple[str, bytes], str] = {}
    for org in orgs:
        ca = org.ca_cert.public_key()
        keys = {"CAs": ca.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)}
        if org.handover_key is not None:
            published = handover_keys.parse_public(org.org_id, org.handover_key)
            keys["hand-over keys"] = published.public_bytes(Encoding.Raw, PublicFormat.Raw)
        for what, key in keys.items():
            other = owners.setdefault((what, key), org.org_id)
            if other != org.org_id:
                raise ConfigError(
                    f"the {what} of {other} and {org.org_id} have the same public key: "
                    "either would act in the other's name"
                )


def _check_witnesses(
    listed: Iterable[tuple[str, str]], members: Iterable[str], log_vkey: str | None = None
) -> None:
    """Each witness belongs to a member and has a key of its own: a public key listed
    for two members (under any names) or equal to the log's would let one private key
    make up the quorum, and the log operator vouch for itself."""
    known, owners = set(members), _log_key_owner(log_vkey)
    for org_id, vkey in listed:
        if org_id not in known:
            raise ConfigError(f"witness of {org_id}: {org_id} is not a member")
        try:
            key = NoteVerifier.from_vkey(vkey).as_type(SigType.COSIGNATURE_V1)
        except NoteError as exc:
            raise ConfigError(f"the witness key of {org_id} is malformed: {exc}") from None
        owner = owners.get(key.public_key)
        if owner is None:
            owners[key.public_key] = org_id
        elif owner == "":
            raise ConfigError(
                f"the witness key of {org_id} is the log's own key: the log operator "
                "would cosign its own checkpoints"
            )
        else:
            raise ConfigError(
                f"the witness keys of {owner} and {org_id} are the same public key: one "
                "private key would count twice towards the witness quorum"
            )


def _log_key_owner(log_vkey: str | None) -> dict[bytes, str]:
    """Public key → the member whose witness holds it, seeded with the log's key ("")."""
    if log_vkey is None:
        return {}
    try:
        return {NoteVerifier.from_vkey(log_vkey).public_key: ""}
    except NoteError as exc:
        raise ConfigError(f"the log key is malformed: {exc}") from None


@contextmanager
def changing(path: Path) -> Iterator[None]:
    """An exclusive hold on the consortium file at ``path`` until the block ends (a lock
    on ``.consortium.lock`` beside it, the owner's only): a command that reads the file,
    changes it and saves it inside the block starts from every change saved before it,
    and no other command's change made meanwhile is lost."""
    with ExitStack() as held:
        try:
            held.enter_context(locked(path.with_name(LOCK_FILE)))
        except OSError as exc:
            raise ConfigError(f"cannot lock the consortium file {path}: {exc.strerror}") from None
        yield


def add_witness(
    path: Path, org_id: str, vkey: str, url: str, quorum: int | None = None
) -> Consortium:
    """List ``org_id``'s witness (its cosignature key and URL) in the consortium file at
    ``path``, and set the quorum when given; the file is unchanged on any error."""
    with changing(path):
        updated = Consortium.load(path).with_witness(org_id, vkey, url, quorum)
        updated.save(path)
    return updated


def retire_member(path: Path, org_id: str, at: dt.datetime | None = None) -> Consortium:
    """Retire ``org_id`` in the consortium file at ``path`` (see
    :meth:`Consortium.with_retired_member`), from now unless ``at`` says otherwise; the
    file is unchanged on any error."""
    with changing(path):
        updated = Consortium.load(path).with_retired_member(org_id, at or dt.datetime.now(dt.UTC))
        updated.save(path)
    return updated
