"""API roles, what each may do, and bearer tokens (stored as SHA-256 only).

A token reads ``lgw.<ORG>.<token id>.<secret>``: the organisation tells the gateway which
off-chain database holds the token's hash, the ID names it in the audit log, and only
the secret's holder can present it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update

from ledger_gw.errors import AuthenticationError, ConfigError, ForbiddenError, NotFoundError
from ledger_gw.offchain.models import ApiToken, DashboardSession, utcnow
from ledger_gw.offchain.store import OffchainStore


class Role(StrEnum):
    AGENCY_WRITER = "agency-writer"
    AGENCY_READER = "agency-reader"
    AUDITOR = "auditor"
    DONOR = "donor"
    ADMIN = "admin"


class Action(StrEnum):
    REGISTRATIONS_WRITE = "registrations.write"
    REGISTRATIONS_READ = "registrations.read"
    PSEUDONYMS = "pseudonyms.derive"
    EVENTS_WRITE = "events.write"
    PERSONS_READ = "persons.read"  # history, entitlements, consents, referrals, events
    PROOFS_READ = "proofs.read"  # proofs, checkpoints and the log's hash tiles
    LOG_ENTRIES = "log.entries"  # the log's entries in bulk: every organisation's events
    CHECKPOINTS_COSIGN = "checkpoints.cosign"
    AUDIT_BUNDLES = "audit.bundles"  # offline bundles and chain verdicts: person-level pseudonyms
    AUDIT_VERIFY = "audit.verify"  # run the pure verifier on a bundle the caller brings
    REPORTS_READ = "reports.read"  # aggregate figures; agencies only their own organisation's
    CREDENTIALS_ISSUE = "credentials.issue"  # sign a person's credential as the organisation
    CREDENTIALS_VERIFY = "credentials.verify"  # check one presented, with its status now


W, R, AU, D, AD = Role.AGENCY_WRITER, Role.AGENCY_READER, Role.AUDITOR, Role.DONOR, Role.ADMIN
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.REGISTRATIONS_WRITE: frozenset({W}),
    Action.REGISTRATIONS_READ: frozenset({W, R}),
    Action.PSEUDONYMS: frozenset({W, R}),
    Action.EVENTS_WRITE: frozenset({W}),
    Action.PERSONS_READ: frozenset({W, R, AU}),
    Action.PROOFS_READ: frozenset({W, R, AU, D, AD}),
    Action.LOG_ENTRIES: frozenset({AU}),
    Action.CHECKPOINTS_COSIGN: frozenset({AU, AD}),
    Action.AUDIT_BUNDLES: frozenset({AU}),
    Action.AUDIT_VERIFY: frozenset({W, R, AU}),
    Action.REPORTS_READ: frozenset({W, R, AU, D}),
    Action.CREDENTIALS_ISSUE: frozenset({W}),
    Action.CREDENTIALS_VERIFY: frozenset({W, R, AU}),
}

# Roles that read reports of their own organisation only (see `report_org`).
OWN_ORG_REPORTS: frozenset[Role] = frozenset({W, R})

# Which API roles an organisation may hold, by its consortium role.
ROLES_FOR_ORG: dict[str, frozenset[Role]] = {
    "agency": frozenset({W, R, AD}),
    "auditor": frozenset({AU, AD}),
    "donor": frozenset({D, AD}),
}

DEFAULT_LIFETIME = dt.timedelta(days=90)

_TOKEN = re.compile(r"lgw\.([A-Z][A-Z0-9-]{1,31})\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class Caller:
    token_id: str
    org: str
    role: Role


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """What an operator may see of a token: never its secret or its hash."""

    token_id: str
    role: str
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


def token_org(token: str) -> str:
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise AuthenticationError("malformed bearer token", code="invalid_token")
    return match.group(1)


def token_id_of(token: str) -> str | None:
    """The ID a well-formed token names (for the record of a failed attempt), else None."""
    match = _TOKEN.fullmatch(token)
    return match.group(2) if match else None


def issue_token(
    store: OffchainStore,
    org_role: str,
    role: str,
    label: str = "",
    *,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> tuple[str, str]:
    """Create a token valid for `lifetime`; returns (token ID, token). The token is shown
    once, never stored."""
    if lifetime <= dt.timedelta(0):
        raise ConfigError("a token's lifetime must be positive")
    try:
        api_role = Role(role)
    except ValueError:
        raise ConfigError(f"unknown role {role!r}: one of {', '.join(Role)}") from None
    if api_role not in ROLES_FOR_ORG.get(org_role, frozenset()):
        raise ConfigError(f"an organisation with role {org_role!r} cannot hold {role!r} tokens")
    token_id = secrets.token_hex(8)
    token = f"lgw.{store.org_id}.{token_id}.{secrets.token_urlsafe(32)}"
    with store.session() as s:
        s.add(
            ApiToken(
                id=token_id,
                token_hash=_digest(token),
                org=store.org_id,
                role=api_role.value,
                label=label[:100],
                expires_at=utcnow() + lifetime,
            )
        )
    return token_id, token


def list_tokens(store: OffchainStore) -> list[TokenInfo]:
    """Every token of the organisation, oldest first."""
    with store.reading() as s:
        rows = s.scalars(select(ApiToken).order_by(ApiToken.created_at)).all()
        return [
            TokenInfo(r.id, r.role, r.label, r.created_at, r.expires_at, r.revoked_at) for r in rows
        ]


def revoke_token(store: OffchainStore, token_id: str) -> None:
    with store.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise NotFoundError(f"no token {token_id} in {store.org_id}", code="token_not_found")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        # Its dashboard sessions end with it, in the same transaction: none lives on.
        s.execute(
            update(DashboardSession)
            .where(DashboardSession.token_id == token_id, DashboardSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
    for key, (cached, _) in list(_valid.items()):
        if cached.token_id == token_id and key[0] == store.org_id:
            del _valid[key]


# Tokens that checked out, by (organisation, token digest) → (caller, until when).
# Every request presents its token; looking it up costs more than the rest of a history
# read, so a valid token is trusted for a few seconds. Revoking one clears it here at
# once; other gateway processes notice within CACHE_SECONDS.
CACHE_SECONDS = 5.0
_valid: dict[tuple[str, str], tuple[Caller, float]] = {}


def authenticate(store: OffchainStore, token: str) -> Caller:
    """The caller a bearer token stands for; AuthenticationError when it is not valid."""
    match = _TOKEN.fullmatch(token)
    if match is None or match.group(1) != store.org_id:
        raise AuthenticationError("malformed bearer token", code="invalid_token")
    digest = _digest(token)
    cached = _valid.get((store.org_id, digest))
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    caller, left = _look_up(store, match.group(2), digest)
    _valid[(store.org_id, digest)] = (caller, time.monotonic() + min(CACHE_SECONDS, left))
    return caller


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every one stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _look_up(store: OffchainStore, token_id: str, digest: str) -> tuple[Caller, float]:
    """The caller and how many seconds its token has left."""
    with store.reading() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.id == token_id))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise AuthenticationError("unknown bearer token", code="invalid_token")
    if row.revoked_at is not None:
        raise AuthenticationError("the bearer token was revoked", code="token_revoked")
    left = float("inf")
    if row.expires_at is not None:
        left = (_aware(row.expires_at) - utcnow()).total_seconds()
        if left <= 0:
            raise AuthenticationError("the bearer token has expired", code="token_expired")
    return Caller(row.id, row.org, Role(row.role)), left


def report_org(caller: Caller, requested: str | None) -> str | None:
    """The organisation whose figures the caller may read: an agency reads only its own
    (asked for nothing, it gets its own); donors and auditors any, or all (None)."""
    if caller.role not in OWN_ORG_REPORTS:
        return requested
    if requested not in (None, caller.org):
        raise ForbiddenError(f"{caller.org} may read only its own report", code="org_forbidden")
    return caller.org


def authorise(caller: Caller, action: Action) -> None:
    if caller.role not in PERMISSIONS[action]:
        raise ForbiddenError(f"role {caller.role} may not do {action}", code="role_forbidden")
