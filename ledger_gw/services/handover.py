"""Referral hand-overs, gateway to gateway: the referring agency seals what she agreed to
share to the receiving agency's published key and records its salted hash on the ledger;
the receiving agency's gateway fetches it with a request signed by its organisation, opens
it, checks it against the ledger and shows its caseworker a pre-filled registration.

Every step asks the ledger first: the referral must still be open and the consent it
cites still active and covering the receiver, so a withdrawal stops a hand-over at once.
Only an agency receives one: a donor or the auditor, whatever a referral or a consent
names, is handed nobody's registration. The package is deleted once fetched; once
expired it can no longer be fetched, and it is deleted at the next seal or fetch or
start of the gateway; once the ledger refuses it (the referral closed, the consent
withdrawn), at the next fetch or start. A gateway that serves both
organisations (a shared deployment, the demo) releases it to itself, through the same
signed request and checks. Every release and every refused fetch is written to the
releasing agency's audit log, naming the organisation that asked and the person.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError

from ledger_gw import outbound, strict_json
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
from ledger_gw.offchain.models import AuditRecord, Person, SealedHandover, SeenNonce, utcnow
from ledger_gw.offchain.store import OffchainStore
from ledger_gw.services import request_log
from ledger_gw.services.access import Caller, Role
from ledger_gw.services.gateway import Gateway

log = logging.getLogger(__name__)

LIFETIME = dt.timedelta(days=7)
OPEN_STATES = frozenset({"created", "accepted"})
HANDED_OVER = "referral.handed_over"
MAX_NOTE_CHARS = 4000
FETCH_TIMEOUT = 30
#: The route a release is recorded under in the audit log, whichever way the signed
#: request came (over HTTP, or within a gateway that serves both organisations).
RELEASE_ROUTE = "/v1/handovers/<uuid:referral_id>"
#: What a referring gateway's refusal of a fetch may say, as the receiver repeats it to
#: its caseworker: its own documented codes, each as the same kind of refusal. Any other
#: answer is a generic `peer_refused`: whatever answers on the link does not choose the
#: receiver's codes, nor what its audit log records.
PEER_CODES: dict[str, type[RejectedError]] = {
    "consent_inactive": TransitionError,
    "referral_closed": TransitionError,
    "consent_required": ForbiddenError,
    "consent_not_covering": ForbiddenError,
    "handover_not_for_you": ForbiddenError,
    "receiver_not_agency": ForbiddenError,
    "handover_not_found": NotFoundError,
    "request_unsigned": AuthenticationError,
    "request_signature_invalid": AuthenticationError,
    "request_stale": AuthenticationError,
    "request_replayed": AuthenticationError,
}
_MAX_PEER_DETAIL = 500


def path_of(referral_id: str) -> str:
    return f"/v1/handovers/{referral_id}"


def purge_unfetchable(gateway: Gateway, now: dt.datetime | None = None) -> None:
    """Delete every package nobody may fetch any more, in each organisation's database
    this gateway serves: it is personal data kept for nothing."""
    now = now or utcnow()
    for org in gateway.stores:
        _purge(gateway.store(org), now, _refused(gateway, org, now))


def _purge(store: OffchainStore, now: dt.datetime, refused: Sequence[str] = ()) -> None:
    """Delete the packages past their lifetime, and those of the `refused` referrals."""
    with store.session() as s:
        gone = s.execute(
            delete(SealedHandover).where(
                or_(SealedHandover.expires_at <= now, SealedHandover.referral_id.in_(refused))
            )
        )
        purged = getattr(gone, "rowcount", 0) > 0
    if purged:
        store.purge_deleted()  # as after an erasure: no copy left in the WAL


def _refused(gateway: Gateway, org: str, now: dt.datetime, keep: str = "") -> list[str]:
    """The referrals of the organisation's waiting packages, but `keep`, whose release the
    ledger now refuses: a closed referral, a withdrawn or expired consent stay so. Two
    ledger reads a package, a round trip each to a remote ledger: asked as the gateway
    starts and at each fetch, not at every seal."""
    with gateway.store(org).reading() as s:
        waiting = s.scalars(
            select(SealedHandover.referral_id).where(SealedHandover.expires_at > now)
        ).all()
    return [r for r in waiting if r != keep and not _fetchable(gateway, org, r)]


def _fetchable(gateway: Gateway, org: str, referral_id: str) -> bool:
    """Whether the package `org` sealed for this referral may still be released."""
    try:
        _require_shareable(gateway, _as(org), _referral(gateway, _as(org), referral_id))
    except (TransitionError, ForbiddenError, NotFoundError):
        return False
    return True


def _referral(gateway: Gateway, caller: Caller, referral_id: str) -> dict[str, Any]:
    referral: dict[str, Any] = gateway.client(caller).query("referral", referral_id, "referral")
    return referral


def _require_shareable(gateway: Gateway, caller: Caller, referral: Mapping[str, Any]) -> None:
    """An agency as the receiver, open referral, active consent naming the receiver for
    referral data. The contract records a referral to any member and a consent may name
    every member (`*`): her registration is handed to an agency, never to a donor or the
    auditor."""
    to_org = referral["to_org"]
    receiver = gateway.workspace.consortium.organisations.get(to_org)
    if receiver is None or receiver.role != "agency":
        raise ForbiddenError(
            f"{to_org} is not an agency: nobody's registration is handed to it",
            code="receiver_not_agency",
        )
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
    """Seal her registration and the note to the receiver; record the package's hash.
    Returns her pseudonymous ID too, for the audit log. An expired package no longer
    awaits: a new one replaces it."""
    if len(note) > MAX_NOTE_CHARS:
        raise RejectedError(f"the note is limited to {MAX_NOTE_CHARS} characters", code="too_large")
    referral = _referral(gateway, caller, referral_id)
    if referral["from_org"] != caller.org:
        raise ForbiddenError("only the referring organisation hands over", code="not_sender")
    _require_shareable(gateway, caller, referral)
    store = gateway.store(caller.org)
    now = utcnow()
    _purge(store, now)  # this organisation's own: another's being down stops nothing
    with store.session() as s:
        # held until sealed: an erasure at the same time waits, or has her gone already
        person = s.scalar(select(Person).where(Person.pid == referral["pid"]).with_for_update())
        if person is None:
            raise NotFoundError(
                "this organisation holds no registration for the referred person",
                code="registration_not_found",
            )
        waiting = s.get(SealedHandover, referral_id)
        if waiting is not None and waiting.expires_at > now:
            raise ConflictError("a hand-over for this referral awaits", code="handover_exists")
        if waiting is not None:  # expired since the purge above
            s.delete(waiting)
            s.flush()
        binding = Binding(referral_id, caller.org, referral["to_org"])
        handover = new_handover(binding, person.pid, person.attributes, note)
        package = seal(handover, gateway.workspace.consortium.handover_key(binding.to_org))
        expires = now + LIFETIME
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
        "pid": referral["pid"],
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


@dataclass
class _Trace:
    """Whom a fetch concerned, as far as it got: what the referring agency's audit log
    names for it, for a refusal as for a release."""

    holder: str | None = None  # the referring organisation, if served here: whose log
    pid: str | None = None  # the referral's person
    requester: str | None = None  # the organisation whose signature verified


def release(
    gateway: Gateway, referral_id: str, headers: Mapping[str, str], now: dt.datetime | None = None
) -> bytes:
    """The sealed package, to the organisation it is sealed to, once. The referring
    agency's audit log records each fetch a member signed, who asked for whose package
    and what came of it: a release in the transaction that deletes the package, so that
    none is made unrecorded. A request no member signed proves nothing and names no one:
    it is refused before anything is looked up, and written nowhere. The signature is
    judged by the members' keys in force (a rotation taken while the gateway runs) with no
    grace: a fetch is answered now, and a rotated-out key takes nothing from then on."""
    now = now or dt.datetime.now(dt.UTC)
    keys = gateway.keys.authenticator(now=True)  # a fetch answered is not re-checked
    request = signed.verify(keys, "GET", path_of(referral_id), headers, now)
    trace = _Trace(requester=request.org_id)
    try:
        return _release(gateway, referral_id, request, now, trace)
    except Exception as exc:
        _audit_refusal(gateway, trace, exc)
        raise


def _release(
    gateway: Gateway,
    referral_id: str,
    request: signed.SignedRequest,
    now: dt.datetime,
    trace: _Trace,
) -> bytes:
    holder, referral = _holder(gateway, referral_id)
    if referral is not None:
        trace.holder, trace.pid = holder, referral["pid"]
    _remember(gateway, request, now)
    if holder is None or referral is None:
        raise _awaits_none()
    store = gateway.store(holder)
    _purge(store, now, _refused(gateway, holder, now, keep=referral_id))
    if referral["to_org"] != request.org_id:  # by the ledger: whether one awaits is untold
        raise ForbiddenError(
            f"this hand-over is not for {request.org_id}", code="handover_not_for_you"
        )
    refused: LedgerError | None = None
    sealed: bytes | None = None
    with store.session() as s:
        # locked until deleted: a fetch at the same time finds it gone, not released twice
        row = s.get(SealedHandover, referral_id, with_for_update=True)
        if row is not None:
            try:  # the referral as it is now: one closed since it was first read goes
                current = _referral(gateway, _as(holder), referral_id)
                _require_shareable(gateway, _as(holder), current)
                if s.scalar(select(Person.id).where(Person.pid == referral["pid"])) is None:
                    raise _awaits_none()  # erased since (a package sealed before it named her)
            except (TransitionError, ForbiddenError, NotFoundError) as exc:
                refused = exc  # nothing more may be shared: the package goes now
            sealed = row.sealed
            s.delete(row)
            if refused is None:
                s.add(AuditRecord(**_row(trace, 200, None)))
    if sealed is None:
        raise _awaits_none()
    store.purge_deleted()
    if refused is not None:
        raise refused
    return sealed


def _as(org: str) -> Caller:
    """This gateway acting for an organisation it serves, with no caller's token."""
    return Caller(token_id="", org=org, role=Role.AGENCY_WRITER)


def _holder(gateway: Gateway, referral_id: str) -> tuple[str | None, dict[str, Any] | None]:
    """The referring organisation, if this gateway serves it, and the referral as that
    organisation reads it; (None, None) for a referral no organisation here made."""
    for org in gateway.stores:
        try:
            referral = _referral(gateway, _as(org), referral_id)
        except RejectedError:
            continue  # not one this organisation may see (or read at all)
        sender: str = referral["from_org"]
        if sender not in gateway.stores:
            return None, None
        if sender != org:
            referral = _referral(gateway, _as(sender), referral_id)
        return sender, referral
    return None, None


def _row(trace: _Trace, status: int, code: str | None) -> dict[str, Any]:
    return request_log.row(
        token_id=trace.requester,
        role=request_log.PEER_ROLE,
        method="GET",
        route=RELEASE_ROUTE,
        pid=trace.pid,
        status=status,
        code=code,
    )


def _audit_refusal(gateway: Gateway, trace: _Trace, error: BaseException) -> None:
    """One row in the referring agency's audit log: the organisation that signed the
    request, her pseudonymous ID and the refusal."""
    if trace.holder is None:
        return  # no organisation served here made this referral: nobody's data is here
    code = error.code if isinstance(error, LedgerError) else "internal_error"
    try:
        gateway.store(trace.holder).audit(_row(trace, request_log.status_of(error), code))
    except LedgerError:
        log.exception("audit record failed for a refused hand-over fetch of %s", trace.pid)


def _awaits_none() -> NotFoundError:
    return NotFoundError("no hand-over awaits for this referral", code="handover_not_found")


_REFUSALS: dict[int, type[RejectedError]] = {
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: TransitionError,
}


def _fetch(url: str, headers: Mapping[str, str]) -> bytes:
    """GET from the peer gateway; a refusal it documents comes back as the same kind and
    code, any other as `peer_refused`."""
    # the peer's URL is http(s), checked where the configuration is read
    req = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310
    try:
        with outbound.urlopen(req, timeout=FETCH_TIMEOUT) as answer:
            body: bytes = answer.read(MAX_SEALED_BYTES + 1)
            return body
    except urllib.error.HTTPError as exc:
        with exc:
            if not 400 <= exc.code < 500:
                raise UnavailableError(
                    f"the referring gateway failed ({exc.code})", code="peer_unavailable"
                ) from None
            raise _peer_refusal(exc.code, strict_json.object_of(exc.read(64 * 1024))) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise UnavailableError(
            f"the referring gateway cannot be reached: {exc}", code="peer_unavailable"
        ) from None


def _peer_refusal(status: int, problem: Mapping[str, Any]) -> RejectedError:
    code, detail = problem.get("code"), str(problem.get("detail", ""))[:_MAX_PEER_DETAIL]
    known = PEER_CODES.get(code) if isinstance(code, str) else None
    if known is not None:
        return known(f"the referring gateway refused: {detail}", code=str(code))
    refusal = _REFUSALS.get(status, RejectedError)
    return refusal(f"the referring gateway refused ({status}): {detail}", code="peer_refused")


def referred_pid(gateway: Gateway, caller: Caller, referral_id: str) -> str:
    """The pseudonymous ID to register her under from a referral: one addressed to the
    caller's organisation, accepted by it, handed over under a consent still active and
    covering it (what it took to open her package). Only then is her registration the
    referral's person: a referral alone is the sender's word, naming any ID it likes."""
    referral = _referral(gateway, caller, referral_id)
    if referral["to_org"] != caller.org:
        raise ForbiddenError(
            "only the organisation a referral is addressed to registers her from it",
            code="not_receiver",
            field="referral_id",
        )
    if referral["state"] == "created":
        raise TransitionError(
            "accept the referral before registering her from it",
            code="referral_not_accepted",
            field="referral_id",
        )
    _require_shareable(gateway, caller, referral)
    if not any(e["event"]["type"] == HANDED_OVER for e in referral["events"]):
        raise NotFoundError(
            "the ledger records no hand-over for this referral", code="handover_not_found"
        )
    pid: str = referral["pid"]
    return pid


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
    key = gateway.workspace.handover_key(caller.org)  # first: a package fetched is gone there
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
    handover = open_sealed(sealed, binding, key)
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
