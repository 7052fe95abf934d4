"""A person's credential: issued by the agency that granted her entitlement, or that
registered her, checked by any member offline, and online for whether what it states
still stands.

Issuing reads the establishing event as the issuing organisation, so the contract's
consent rules for reads of her history apply (the agency reads what it wrote); only that
agency may vouch for it.

Online, an entitlement stands in the state the contract holds it in, as it applied its
events in log order; and its credential must state what issuing it from its grant would
have, since a rotated-out key can still sign one dated back before its rotation.

A registration lives off-chain, with her personal attributes, in the registering
agency's store; what establishes it on the ledger is the ``consent.granted`` that agency
recorded for her. Of the events an agency writes about a person's pid it is the one that
says "this agency holds her data, on this lawful basis, until this date": a referral or
an entitlement is a service, not her registration, and it may follow a registration
elsewhere. So a registration credential stands on that consent event (``consent_id`` in
its ledger claim), is issued only by the agency that both recorded it and holds her
registration, expires with the consent, and is withdrawn with it: online, a revoked
consent answers ``credential_revoked``. It states her pid, the agency and the date she
registered; never a personal attribute. The credential is anchored at the latest checkpoint
the witness quorum has cosigned: an event not yet under one is refused for now
(``not_yet_witnessed``). On Hyperledger Fabric there is no tlog-proof, so no credential.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ledger_gw import credentials, outbound, strict_json
from ledger_gw.consortium import Consortium
from ledger_gw.credentials import card
from ledger_gw.errors import (
    ConflictError,
    CredentialError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from ledger_gw.interfaces import VerifiableLog, reveal_none
from ledger_gw.offchain.models import Person
from ledger_gw.services import queries, tlog_proofs
from ledger_gw.services.access import Action, Caller, authorise
from ledger_gw.services.gateway import Gateway
from ledger_gw.transaction import parse_time

__all__ = [
    "DISCLOSABLE",
    "DISCLOSABLE_OF",
    "KINDS",
    "Issued",
    "check_status",
    "issue",
    "read",
    "remote_status",
    "render_card",
    "verify",
    "verify_offline",
]

DISCLOSABLE = credentials.DISCLOSABLE
DISCLOSABLE_OF = credentials.DISCLOSABLE_OF
KINDS = credentials.KINDS

#: The events that end an entitlement, and the state each leaves it in: the contract
#: lists it no more among her open ones.
_ENDS = {"entitlement.revoked": "revoked", "entitlement.closed": "closed"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Issued:
    credential: credentials.Credential
    verified: credentials.Verified

    def to_dict(self) -> dict[str, Any]:
        return {"credential": self.credential.text(), "verified": self.verified.to_dict()}


def issue(
    gateway: Gateway,
    caller: Caller,
    event_id: str | None,
    purpose: str,
    disclose: Iterable[str],
    *,
    kind: str = "entitlement",
    pid: str | None = None,
    expires: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Issued:
    """Her credential of ``kind``, signed as the caller's organisation, showing only the
    claims in ``disclose``: for the entitlement ``event_id`` granted, or for her
    registration here (its consent event ``event_id``, or found by her ``pid``)."""
    authorise(caller, Action.CREDENTIALS_ISSUE)
    now = now or _now()
    if kind == "entitlement":
        if event_id is None:
            raise ValidationError(
                "an entitlement credential names its event", code="missing_field", field="event_id"
            )
        record, subject = _entitlement(gateway, caller, event_id, purpose)
    elif kind == "registration":
        record, subject = _registration(gateway, caller, event_id, pid, purpose)
    else:
        raise ValidationError(f"a credential is one of {', '.join(KINDS)}", field="kind")
    binding, proof = _anchor(gateway, record, subject.kind)
    signer = gateway.client(caller).signer
    made = credentials.issue(signer, subject, binding, proof, disclose, now=now, expires=expires)
    verified = credentials.verify(made.text(), gateway.consortium_in_force(), now=now, ahead=True)
    return Issued(made, verified)


def _entitlement(
    gateway: Gateway, caller: Caller, event_id: str, purpose: str
) -> tuple[dict[str, Any], credentials.Subject]:
    record = queries.event(gateway, caller, event_id, purpose)  # the contract's consent rules
    if record["event"]["type"] != "entitlement.granted":
        raise ValidationError(
            "a credential stands on an entitlement.granted event",
            code="not_an_entitlement",
            field="event_id",
        )
    if record["org"] != caller.org:
        raise ForbiddenError(
            f"only {record['org']}, which granted the entitlement, may issue its credential",
            code="not_granting_org",
        )
    _require_standing(_state(gateway, caller, record, purpose))
    return record, _granted(record)


def _granted(record: dict[str, Any]) -> credentials.Subject:
    """What an entitlement credential states, from the event that granted it."""
    event = record["event"]
    return credentials.Subject.entitlement(
        record["pid"], event["programme"], event["assistance_type"], event["start"], event["end"]
    )


def _registration(
    gateway: Gateway, caller: Caller, event_id: str | None, pid: str | None, purpose: str
) -> tuple[dict[str, Any], credentials.Subject]:
    if (event_id is None) == (pid is None):
        raise ValidationError(
            "a registration credential names her pid or her consent event",
            code="missing_field",
            field="pid",
        )
    if event_id is not None:
        record = queries.event(gateway, caller, event_id, purpose)
        if record["event"]["type"] != "consent.granted":
            raise ValidationError(
                "a registration credential stands on the consent.granted event that "
                "records her with the agency",
                code="not_a_registration",
                field="event_id",
            )
        pid = str(record["pid"])
    assert pid is not None
    registered_on = _registered_on(gateway, caller, pid)
    if event_id is None:
        record = _consent_event(gateway, caller, pid, purpose)
    if record["org"] != caller.org:
        raise ForbiddenError(
            f"only {record['org']}, which recorded her consent, may issue its credential",
            code="not_registering_org",
        )
    consent = _consent(gateway, caller, record)
    _require_standing("active" if consent["state"] == "granted" else "revoked")
    if not consent["active"]:
        raise CredentialError("her consent has expired", code="credential_expired")
    subject = credentials.Subject.registration(pid, registered_on, consent["expires"])
    return record, subject


def _registered_on(gateway: Gateway, caller: Caller, pid: str) -> str:
    """The date the caller's organisation registered her: only it may say she is."""
    with gateway.store(caller.org).reading() as s:
        person = s.scalars(select(Person).where(Person.pid == pid)).one_or_none()
        if person is None:
            raise ForbiddenError(
                f"{caller.org} holds no registration of this person",
                code="not_registering_org",
                field="pid",
            )
        return person.created_at.date().isoformat()


def _consent_event(gateway: Gateway, caller: Caller, pid: str, purpose: str) -> dict[str, Any]:
    """The latest consent.granted the caller's organisation recorded for her."""
    own = [
        r
        for r in queries.history(gateway, caller, pid, purpose)["events"]
        if r["event"]["type"] == "consent.granted" and r["org"] == caller.org
    ]
    if not own:
        raise NotFoundError(
            f"{caller.org} recorded no consent for her on the ledger",
            code="registration_event_not_found",
            field="pid",
        )
    return max(own, key=lambda r: (r["timestamp"], r["tx_id"]))


def _consent(gateway: Gateway, caller: Caller, record: dict[str, Any]) -> Any:
    """The consent the event granted, as the ledger holds it now, if the caller may see it."""
    consent_id = record["event"]["consent_id"]
    for consent in queries.consents(gateway, caller, record["pid"])["consents"]:
        if consent["consent_id"] == consent_id:
            return consent
    return None


def _anchor(gateway: Gateway, record: dict[str, Any], kind: str) -> tuple[credentials.Binding, str]:
    """Where the event is, and its tlog-proof at the latest witnessed checkpoint."""
    log, consortium = gateway.log, gateway.workspace.consortium
    tx_id = str(record["tx_id"])
    anchor = log.anchor(None)  # before any is cosigned, the latest: not good enough here
    witnessed = not consortium.witness_quorum or (
        anchor.note is not None and consortium.witnessed(anchor.note) is not None
    )
    index, leaf_hash = _entry_of(log, tx_id)
    if not witnessed or index >= anchor.size:
        raise ConflictError(
            "the event is not yet under a checkpoint the witnesses cosigned: retry shortly",
            code="not_yet_witnessed",
        )
    proof = tlog_proofs.export(log, None, tx_id, anchor.size)
    binding = credentials.Binding(
        origin=gateway.workspace.consortium.origin,
        tx_id=tx_id,
        index=index,
        leaf_hash=leaf_hash,
        ref=str(record["event"][credentials.REFERENCES[kind]]),
        kind=kind,
    )
    return binding, proof


def _entry_of(log: VerifiableLog, tx_id: str) -> tuple[int, str]:
    """Where the transaction's entry is in the log, and its leaf hash (base64)."""
    where: Any = log.inclusion(None, tx_id, None, reveal_none)
    return int(where["index"]), str(where["leaf_hash"])


def _state(gateway: Gateway, caller: Caller, grant: dict[str, Any], purpose: str) -> str:
    """The entitlement's state as the contract holds it, read as the caller (who has read
    its grant, under the consent rule that shares its other events): the state of an open
    one, which the contract lists; else the one event that ended it. Never a replay of
    her history, which is in the order its events state their times, not the contract's."""
    entitlement_id = grant["event"]["entitlement_id"]
    for held in queries.entitlements(gateway, caller, grant["pid"], purpose)["entitlements"]:
        if held["entitlement_id"] == entitlement_id:
            return str(held["state"])
    for record in queries.history(gateway, caller, grant["pid"], purpose)["events"]:
        event = record["event"]
        if event.get("entitlement_id") == entitlement_id and event["type"] in _ENDS:
            return _ENDS[event["type"]]
    raise _status_unknown(caller, purpose)  # the consent to read it lapsed between reads


def _status_unknown(caller: Caller, purpose: str) -> ForbiddenError:
    return ForbiddenError(
        f"{caller.org} may not read this entitlement for {purpose}: its status is unknown",
        code="credential_status_unknown",
    )


def _require_standing(state: str) -> None:
    if state != "active":
        raise CredentialError(f"the entitlement is {state}", code=f"credential_{state}")


def read(data: bytes) -> bytes:
    """The credential text in a file: the text itself, or a photo or scan of its card."""
    return card.read_image(data).encode() if card.is_image(data) else data


def verify_offline(
    data: bytes,
    consortium: Consortium,
    *,
    quorum: int | None = None,
    now: dt.datetime | None = None,
) -> credentials.Verified:
    """Check a credential (text or card image) against the caller's pinned consortium."""
    return credentials.verify(read(data), consortium, now=now or _now(), quorum=quorum)


def check_status(
    gateway: Gateway, caller: Caller, verified: credentials.Verified, purpose: str
) -> str:
    """That what the credential states still stands: ``active``, else CredentialError
    naming its state (``credential_altered`` for an entitlement credential that states
    what its grant does not); ``credential_status_unknown`` when the caller may not read
    it."""
    kind = verified.kind
    history = queries.history(gateway, caller, verified.pid, purpose)["events"]
    grants = [
        r
        for r in history
        if r["event"]["type"] == _STANDS_ON[kind]
        and r["event"][credentials.REFERENCES[kind]] == verified.binding.ref
    ]
    if not grants:
        raise _status_unknown(caller, purpose)
    _require_same_event(grants[0], verified)
    _require_proven_entry(gateway, verified)
    recorded = parse_time(grants[0]["timestamp"])
    if kind == "registration":
        return _registration_status(gateway, caller, verified, recorded)
    credentials.as_issued(verified, _granted(grants[0]), recorded)
    state = _state(gateway, caller, grants[0], purpose)
    _require_standing(state)
    return state


#: The event each kind of credential stands on.
_STANDS_ON = {"entitlement": "entitlement.granted", "registration": "consent.granted"}


def _require_proven_entry(gateway: Gateway, verified: credentials.Verified) -> None:
    """Its proof is of its event's own entry: offline a proof says only that some entry
    is logged, and the issuer's signature alone ties it to the event it names."""
    binding = verified.binding
    if _entry_of(gateway.log, binding.tx_id) != (binding.index, binding.leaf_hash):
        raise CredentialError(
            "the credential's proof is of another ledger entry than its event's",
            code="credential_unproven",
        )


def _registration_status(
    gateway: Gateway, caller: Caller, verified: credentials.Verified, recorded: dt.datetime
) -> str:
    """Her registration stands while the consent that records it (on the ledger at
    ``recorded``) is neither withdrawn nor expired, was recorded by the agency that
    signed, and the card is as issuing it from that consent makes it: issued after it,
    expiring with it at the latest."""
    consent = _consent(
        gateway, caller, {"pid": verified.pid, "event": {"consent_id": verified.binding.ref}}
    )
    if consent is None:
        raise ForbiddenError(
            f"{caller.org} may not read this registration's consent: its status is unknown",
            code="credential_status_unknown",
        )
    if consent["collected_by"] != verified.issuer:
        raise CredentialError(
            f"the consent was recorded by {consent['collected_by']}, not the issuer",
            code="credential_wrong_issuer",
        )
    stated = credentials.Subject.registration(verified.pid, None, consent["expires"])
    credentials.as_issued(verified, stated, recorded)
    _require_standing("active" if consent["state"] == "granted" else "revoked")
    if not consent["active"]:
        raise CredentialError("her consent has expired", code="credential_expired")
    return "active"


def _require_same_event(record: dict[str, Any], verified: credentials.Verified) -> None:
    if record["tx_id"] != verified.binding.tx_id:
        raise CredentialError(
            f"the credential names another transaction than the {verified.kind}'s event",
            code="credential_unproven",
        )
    if record["org"] != verified.issuer:
        raise CredentialError(
            f"the event was written by {record['org']}, not the issuer",
            code="credential_wrong_issuer",
        )


def verify(
    gateway: Gateway,
    caller: Caller,
    data: bytes,
    purpose: str,
    *,
    online: bool = True,
    quorum: int | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Check a credential against the gateway's own consortium file, and (``online``)
    that its entitlement is neither revoked nor suspended now, saying how far the ledger
    it read that in had grown, and when (``status_as_of``)."""
    authorise(caller, Action.CREDENTIALS_VERIFY)
    verified = verify_offline(data, gateway.consortium_in_force(), quorum=quorum, now=now)
    if not online:
        return {**verified.to_dict(), "status": "not checked"}
    as_of = _as_of(gateway)
    status = check_status(gateway, caller, verified, purpose)
    return {**verified.to_dict(), "status": status, "status_as_of": as_of}


def _as_of(gateway: Gateway) -> dict[str, Any]:
    """The ledger's size and the time, read before a status: it reflects at least that."""
    read_at = _now().replace(microsecond=0)
    return {
        "ledger_size": gateway.ledger.size(),
        "at": read_at.isoformat().replace("+00:00", "Z"),
    }


def render_card(
    data: bytes, consortium: Consortium, kind: str, *, now: dt.datetime | None = None
) -> bytes:
    """The printable card (PNG or PDF) of a credential that verifies, or will from the
    day it states (printed when it is issued)."""
    if kind not in ("png", "pdf"):
        raise ValidationError("a card is a png or a pdf", field="format")
    text = read(data)
    verified = credentials.verify(text, consortium, now=now or _now(), ahead=True)
    return card.render(credentials.Credential.parse(text), verified, kind)


#: The largest credential status read from another gateway: a status is a few hundred
#: bytes, and a larger answer is none.
MAX_STATUS = 64 * 1024


def remote_status(url: str, token: str, data: bytes, purpose: str) -> dict[str, Any]:
    """Ask a member's gateway (``POST /v1/credentials/verify``) whether the credential's
    entitlement still stands; its refusal comes back as the same CredentialError."""
    body = json.dumps(
        {"credential": read(data).decode(), "purpose": purpose, "online": True}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the operator gives an http(s) URL
        url.rstrip("/") + "/v1/credentials/verify",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with outbound.urlopen(request, timeout=30) as answer:
            data = answer.read(MAX_STATUS + 1)
    except urllib.error.HTTPError as exc:
        with exc:
            problem = strict_json.object_of(exc.read(64 * 1024))
        code = str(problem.get("code", "gateway_error"))
        message = f"the gateway says: {problem.get('detail', exc.reason)}"
        if code.startswith("credential_"):
            raise CredentialError(message, code=code) from None
        raise UnavailableError(message, code=code) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise UnavailableError(f"cannot reach the gateway at {url}: {exc}") from None
    result = strict_json.object_of(data) if len(data) <= MAX_STATUS else {}
    if not isinstance(result.get("status"), str):
        raise UnavailableError(f"the gateway at {url} answered no credential status")
    return result
