"""Referral hand-overs, gateway to gateway: the referring agency seals what she agreed to
share to the receiving agency's published key and records its salted hash on the ledger;
the receiving agency's gateway fetches it with a request signed by its organisation, opens
it, checks it against the ledger and shows its caseworker a pre-filled registration.

Every step asks the ledger first: the referral must still be open and the consent it
cites still active and covering the receiver, so a withdrawal stops a hand-over at once.
The package is deleted once fetched, or when it expires. A gateway that serves both
organisations (a shared deployment, the demo) releases it to itself, through the same
signed request and checks.
"""

from __future__ import annotations

import datetime as dt
import http.client
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ledger_gw import strict_json
from ledger_gw.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    HandoverError,
    LedgerError,
    NotFoundError,
    RejectedError,
    TransitionError,
    UnavailableError,
)
from ledger_gw.handover import request as signed
from ledger_gw.handover.package import MAX_SEALED_BYTES, Binding, new_handover, open_sealed, seal
from ledger_gw.offchain.models import Person, SealedHandover, SeenNonce, utcnow
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.gateway import Gateway

LIFETIME = dt.timedelta(days=7)
OPEN_STATES = frozenset({"created", "accepted"})
HANDED_OVER = "referral.handed_over"
MAX_NOTE_CHARS = 4000
FETCH_TIMEOUT = 30


def path_of(referral_id: str) -> str:
    return f"/v1/handovers/{referral_id}"


def _referral(gateway: Gateway, caller: Caller, referral_id: str) -> dict[str, Any]:
    referral: dict[str, Any] = gateway.client(caller).query("referral", referral_id, "referral")
    return referral


def _require_shareable(gateway: Gateway, caller: Caller, referral: Mapping[str, Any]) -> None:
    """Open referral, active consent naming the receiver for referral data."""
    if referral["state"] not in OPEN_STATES:
        raise TransitionError(
            f"the referral is {referral['state']}", code="referral_closed", field="referral_id"
        )
    consent_id = referral["consent_id"]
    if consent_id is None:
        raise ForbiddenError(
            "the referral cites no consent to share under", code="consent_required"
        )
    listed = gateway.client(caller).query("consents", referral["pid"])["consents"]
    cited = next((c for c in listed if c["consent_id"] == consent_id), None)
    if cited is None or not cited["active"]:
        raise TransitionError(
            "the consent the referral cites is revoked or expired", code="consent_inactive"
        )
    to_org = referral["to_org"]
    names = cited["grantees"] == ["*"] or to_org in cited["grantees"]
    if (
        not names
        or "referral" not in cited["purposes"]
        or "referrals" not in cited["data_categories"]
    ):
        raise ForbiddenError(
            f"the consent does not cover sharing referral data with {to_org}",
            code="consent_not_covering",
        )


def prepare(gateway: Gateway, caller: Caller, referral_id: str, note: str) -> dict[str, Any]:
    """Seal her registration and the note to the receiver; record the package's hash."""
    if len(note) > MAX_NOTE_CHARS:
        raise RejectedError(f"the note is limited to {MAX_NOTE_CHARS} characters", code="too_large")
    referral = _referral(gateway, caller, referral_id)
    if referral["from_org"] != caller.org:
        raise ForbiddenError("only the referring organisation hands over", code="not_sender")
    _require_shareable(gateway, caller, referral)
    store = gateway.store(caller.org)
    with store.session() as s:
        person = s.scalar(select(Person).where(Person.pid == referral["pid"]))
        if person is None:
            raise NotFoundError(
                "this organisation holds no registration for the referred person",
                code="registration_not_found",
            )
        if s.get(SealedHandover, referral_id) is not None:
            raise ConflictError("a hand-over for this referral awaits", code="handover_exists")
        binding = Binding(referral_id, caller.org, referral["to_org"])
        handover = new_handover(binding, person.pid, person.attributes, note)
        package = seal(handover, gateway.workspace.consortium.handover_key(binding.to_org))
        expires = utcnow() + LIFETIME
        s.add(
            SealedHandover(
                referral_id=referral_id,
                person_id=person.id,
                to_org=binding.to_org,
                document_hash=handover.document_hash,
                sealed=package,
                expires_at=expires,
            )
        )
        s.flush()
        event = {
            "event_id": str(uuid.uuid4()),
            "type": HANDED_OVER,
            "referral_id": referral_id,
            "document_hash": handover.document_hash,
        }
        gateway.client(caller).submit(event)  # refused: the package is not kept
    return {
        "referral_id": referral_id,
        "to_org": binding.to_org,
        "document_hash": handover.document_hash,
        "event_id": event["event_id"],
        "expires_at": expires,
    }


def _remember(gateway: Gateway, request: signed.SignedRequest, now: dt.datetime) -> None:
    """Refuse a request seen before; forget nonces older than the accepted window."""
    for store in gateway.stores.values():
        try:
            with store.session() as s:
                s.execute(delete(SeenNonce).where(SeenNonce.seen_at < now - 2 * signed.SKEW))
                s.add(SeenNonce(nonce=request.nonce, org=request.org_id, seen_at=now))
        except LedgerError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise AuthenticationError(
                    "this signed request was already answered", code="request_replayed"
                ) from None
            raise


def release(
    gateway: Gateway, referral_id: str, headers: Mapping[str, str], now: dt.datetime | None = None
) -> bytes:
    """The sealed package, to the organisation it is sealed to, once."""
    now = now or dt.datetime.now(dt.UTC)
    request = signed.verify(
        gateway.workspace.consortium.authenticator(), "GET", path_of(referral_id), headers, now
    )
    _remember(gateway, request, now)
    for org, store in gateway.stores.items():
        refused: LedgerError | None = None
        with store.session() as s:
            s.execute(delete(SealedHandover).where(SealedHandover.expires_at < now))
            row = s.get(SealedHandover, referral_id)
            if row is None:
                continue
            if row.to_org != request.org_id:
                raise ForbiddenError(
                    f"this hand-over is not for {request.org_id}", code="handover_not_for_you"
                )
            holder = Caller(token_id="", org=org, role=Role.AGENCY_WRITER)
            try:
                referral = _referral(gateway, holder, referral_id)
                _require_shareable(gateway, holder, referral)
                if s.scalar(select(Person.id).where(Person.pid == referral["pid"])) is None:
                    raise _awaits_none()  # erased since (a package sealed before it named her)
            except (TransitionError, ForbiddenError, NotFoundError) as exc:
                refused = exc  # nothing more may be shared: the package goes now
            sealed = row.sealed
            s.delete(row)
        store.purge_deleted()
        if refused is not None:
            raise refused
        return sealed
    raise _awaits_none()


def _awaits_none() -> NotFoundError:
    return NotFoundError("no hand-over awaits for this referral", code="handover_not_found")


_REFUSALS: dict[int, type[RejectedError]] = {
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: TransitionError,
}


def _fetch(url: str, headers: Mapping[str, str]) -> bytes:
    """GET from the peer gateway; its refusal comes back as the same kind and code."""
    # the peer's URL is http(s), checked where the configuration is read
    req = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as answer:  # noqa: S310
            body: bytes = answer.read(MAX_SEALED_BYTES + 1)
            return body
    except urllib.error.HTTPError as exc:
        problem = strict_json.object_of(exc.read(64 * 1024))
        if "code" in problem:
            code, detail = str(problem["code"]), str(problem.get("detail", ""))
        else:
            code, detail = "peer_refused", ""
        if 400 <= exc.code < 500:
            refusal = _REFUSALS.get(exc.code, RejectedError)
            raise refusal(f"the referring gateway refused: {detail}", code=code) from None
        raise UnavailableError(
            f"the referring gateway failed ({exc.code})", code="peer_unavailable"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise UnavailableError(
            f"the referring gateway cannot be reached: {exc}", code="peer_unavailable"
        ) from None


def from_referral(gateway: Gateway, caller: Caller, referral_id: str) -> dict[str, Any]:
    """Fetch, open and check the referral's package: a registration for the caseworker to
    confirm. Nothing is created here."""
    referral = _referral(gateway, caller, referral_id)
    if referral["to_org"] != caller.org:
        raise ForbiddenError(
            "only the receiving organisation takes a hand-over", code="not_receiver"
        )
    _require_shareable(gateway, caller, referral)
    recorded = [e for e in referral["events"] if e["event"]["type"] == HANDED_OVER]
    if not recorded:
        raise NotFoundError(
            "the ledger records no hand-over for this referral", code="handover_not_found"
        )
    from_org = referral["from_org"]
    path = path_of(referral_id)
    headers = signed.sign(
        gateway.workspace.signer(caller.org), "GET", path, dt.datetime.now(dt.UTC)
    )
    peer = gateway.config.peers.get(from_org)
    if peer is not None:
        sealed = _fetch(peer + path, headers)
    elif from_org in gateway.stores:  # this gateway serves both: the same signed release
        sealed = release(gateway, referral_id, headers)
    else:
        raise ConfigError(f"this gateway knows no URL for {from_org}'s gateway")
    binding = Binding(referral_id, from_org, caller.org)
    handover = open_sealed(sealed, binding, gateway.workspace.handover_key(caller.org))
    if handover.document_hash != recorded[-1]["event"]["document_hash"]:
        raise HandoverError(
            "the package is not the one the ledger records for this referral",
            code="handover_hash_mismatch",
        )
    if handover.pid != referral["pid"]:
        raise HandoverError("the package is about another person", code="handover_mismatch")
    return {
        "referral_id": referral_id,
        "from_org": from_org,
        "pid": handover.pid,
        "attributes": dict(handover.attributes),
        "note": handover.note,
        "document_hash": handover.document_hash,
    }
