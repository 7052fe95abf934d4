"""A person's credential: issued by the agency that granted her entitlement, checked by
any member offline, and online for whether the entitlement still stands.

Issuing reads the establishing event as the issuing organisation, so the contract's
consent rules for reads of her history apply (the granting agency reads what it wrote);
only that agency may vouch for it. The credential is anchored at the latest checkpoint
the witness quorum has cosigned: an event not yet under one is refused for now
(``not_yet_witnessed``). On Hyperledger Fabric there is no tlog-proof, so no credential.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger_gw import credentials
from ledger_gw.consortium import Consortium
from ledger_gw.credentials import card
from ledger_gw.errors import (
    ConflictError,
    CredentialError,
    ForbiddenError,
    UnavailableError,
    ValidationError,
)
from ledger_gw.interfaces import reveal_none
from ledger_gw.services import queries, tlog_proofs
from ledger_gw.services.access import Action, Caller, authorise
from ledger_gw.services.gateway import Gateway

__all__ = [
    "DISCLOSABLE",
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

_STATES = {
    "entitlement.suspended": "suspended",
    "entitlement.resumed": "active",
    "entitlement.revoked": "revoked",
    "entitlement.closed": "closed",
}


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
    event_id: str,
    purpose: str,
    disclose: Iterable[str],
    *,
    expires: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Issued:
    """Her credential for the entitlement ``event_id`` granted, signed as the caller's
    organisation, showing only the claims in ``disclose``."""
    authorise(caller, Action.CREDENTIALS_ISSUE)
    now = now or _now()
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
    event = record["event"]
    _require_standing(_state(gateway, caller, record, purpose))
    binding, proof = _anchor(gateway, record)
    subject = credentials.Subject(
        pid=record["pid"],
        programme=event["programme"],
        assistance_type=event["assistance_type"],
        valid_from=event["start"],
        valid_until=event["end"],
    )
    signer = gateway.client(caller).signer
    made = credentials.issue(signer, subject, binding, proof, disclose, now=now, expires=expires)
    verified = credentials.verify(made.text(), gateway.workspace.consortium, now=now)
    return Issued(made, verified)


def _anchor(gateway: Gateway, record: dict[str, Any]) -> tuple[credentials.Binding, str]:
    """Where the event is, and its tlog-proof at the latest witnessed checkpoint."""
    log = gateway.log
    tx_id = str(record["tx_id"])
    anchor = log.anchor(None)
    where: Any = log.inclusion(None, tx_id, None, reveal_none)
    if int(where["index"]) >= anchor.size:
        raise ConflictError(
            "the event is not yet under a checkpoint the witnesses cosigned: retry shortly",
            code="not_yet_witnessed",
        )
    proof = tlog_proofs.export(log, None, tx_id, anchor.size)
    binding = credentials.Binding(
        origin=gateway.workspace.consortium.origin,
        tx_id=tx_id,
        index=int(where["index"]),
        leaf_hash=str(where["leaf_hash"]),
        entitlement_id=str(record["event"]["entitlement_id"]),
    )
    return binding, proof


def _state(gateway: Gateway, caller: Caller, grant: dict[str, Any], purpose: str) -> str:
    """The entitlement's state now, from the events of it the caller may read."""
    entitlement_id = grant["event"]["entitlement_id"]
    state = "active"
    for record in queries.history(gateway, caller, grant["pid"], purpose)["events"]:
        event = record["event"]
        if event.get("entitlement_id") == entitlement_id and event["type"] in _STATES:
            state = _STATES[event["type"]]
    return state


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
    """That the entitlement still stands: ``active``, else CredentialError naming its
    state; ``credential_status_unknown`` when the caller may not read it (no consent)."""
    history = queries.history(gateway, caller, verified.pid, purpose)["events"]
    grants = [
        r
        for r in history
        if r["event"]["type"] == "entitlement.granted"
        and r["event"]["entitlement_id"] == verified.binding.entitlement_id
    ]
    if not grants:
        raise ForbiddenError(
            f"{caller.org} may not read this entitlement for {purpose}: its status is unknown",
            code="credential_status_unknown",
        )
    if grants[0]["tx_id"] != verified.binding.tx_id:
        raise CredentialError(
            "the credential names another transaction than the entitlement's grant",
            code="credential_unproven",
        )
    state = _state(gateway, caller, grants[0], purpose)
    _require_standing(state)
    return state


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
    that its entitlement is neither revoked nor suspended now."""
    authorise(caller, Action.CREDENTIALS_VERIFY)
    verified = verify_offline(data, gateway.workspace.consortium, quorum=quorum, now=now)
    status = check_status(gateway, caller, verified, purpose) if online else "not checked"
    return {**verified.to_dict(), "status": status}


def render_card(
    data: bytes, consortium: Consortium, kind: str, *, now: dt.datetime | None = None
) -> bytes:
    """The printable card (PNG or PDF) of a credential that verifies."""
    if kind not in ("png", "pdf"):
        raise ValidationError("a card is a png or a pdf", field="format")
    text = read(data)
    verified = credentials.verify(text, consortium, now=now or _now())
    return card.render(credentials.Credential.parse(text), verified, kind)


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
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            result: dict[str, Any] = json.load(answer)
            return result
    except urllib.error.HTTPError as exc:
        problem = json.loads(exc.read() or b"{}")
        code = str(problem.get("code", "gateway_error"))
        message = f"the gateway says: {problem.get('detail', exc.reason)}"
        if code.startswith("credential_"):
            raise CredentialError(message, code=code) from None
        raise UnavailableError(message, code=code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UnavailableError(f"cannot reach the gateway at {url}: {exc}") from None
