"""Verifying a credential offline, against the consortium file the verifier pins.

Each way a credential can fail has its own code (a CredentialError), checked in this order:

* ``credential_malformed``: not a credential, or a part of it does not parse, or its
  claims are not its kind's (an entitlement's terms on a registration, or the reverse).
* ``credential_foreign_consortium``: the signing certificate does not chain to a CA of the
  pinned consortium, or the event is in another ledger.
* ``credential_wrong_issuer``: the signer is a member, but not the ``iss`` it claims, or
  not an agency.
* ``credential_issuer_key_retired``: the issuer's key was rotated out before the time
  the credential says it was issued.
* ``credential_forged``: the issuer's signature does not verify.
* ``credential_altered``: a disclosure is not one the issuer signed (changed or added);
  online too, it states what issuing it from its ledger event would not (:func:`as_issued`).
* ``credential_expired``: past its ``exp`` (or its certificate's validity).
* ``credential_not_yet_valid``: before its ``nbf``, the day what it states begins.
* ``credential_not_witnessed``: the checkpoint lacks the witness quorum the verifier asks.
* ``credential_unproven``: the tlog-proof does not prove the event the issuer signed.

Whether the entitlement was revoked or suspended since, or the registration's consent
withdrawn, is an online question
(:mod:`ledger_gw.services.credentials`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.common import JWException
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from ledger_gw import strict_json
from ledger_gw.audit.tlog_proof import verify_tlog_proof
from ledger_gw.consortium import Consortium
from ledger_gw.credentials.format import (
    ALG,
    DISCLOSABLE_OF,
    TYP,
    VCTS,
    Binding,
    Credential,
    malformed,
)
from ledger_gw.credentials.issue import Subject
from ledger_gw.errors import (
    AuditFailedError,
    AuthenticationError,
    CredentialError,
    MalformedError,
)
from ledger_gw.identity import cert_pem, load_certificate
from ledger_gw.log import checkpoint as ckpt
from ledger_gw.log.tlog_proof import TlogProof, TlogProofError

CLOCK_SKEW = dt.timedelta(minutes=10)  # a verifier's clock may run behind its issuer's
#: How long before the time its ledger event states a credential may say it was issued:
#: the event's writer and the issuer each state the time of a clock the ledger takes
#: within CLOCK_SKEW of its own.
ISSUE_SLACK = 2 * CLOCK_SKEW
_CERTIFICATE_CODES = {
    "unknown_organisation": "credential_foreign_consortium",
    "untrusted_certificate": "credential_foreign_consortium",
    "wrong_role": "credential_wrong_issuer",
    "expired_certificate": "credential_expired",
    "retired_certificate": "credential_issuer_key_retired",
}


@dataclass(frozen=True)
class Verified:
    """What a credential that verifies establishes."""

    kind: str
    issuer: str
    pid: str
    disclosed: dict[str, Any]
    expires: dt.datetime
    issued_at: dt.datetime
    binding: Binding
    tree_size: int
    witnesses: tuple[str, ...]
    not_before: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        shown = {
            "ok": True,
            "kind": self.kind,
            "issuer": self.issuer,
            "pid": self.pid,
            "disclosed": self.disclosed,
            "expires": _instant(self.expires),
            "issued_at": _instant(self.issued_at),
            "event": self.binding.to_claim(),
            "tree_size": self.tree_size,
            "witnesses": list(self.witnesses),
        }
        if self.not_before is not None:
            shown["not_before"] = _instant(self.not_before)
        return shown


def _instant(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _b64url_decoded(part: str) -> Any:
    """Read before its signature is checked: held to I-JSON, at a bounded depth."""
    return strict_json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _b64url_json(part: str, what: str) -> dict[str, Any]:
    try:
        value = _b64url_decoded(part)
    except (ValueError, MalformedError):
        raise malformed(f"the credential's {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise malformed(f"the credential's {what} is not a JSON object")
    return value


def _issued(payload: dict[str, Any], now: dt.datetime) -> dt.datetime:
    """When the credential says it was issued (the signature, checked next, vouches for
    it), not after ``now`` beyond the skew: the issuer's key must have been its signing
    key then. A card issued before a routine rotation stays valid; one a stolen key
    dates back before its rotation is the online check's to catch (:func:`as_issued`),
    as with any offline signature."""
    issued = _time(payload.get("iat"), "issue time (iat)")
    if issued > now + CLOCK_SKEW:
        raise CredentialError(
            f"the credential says it was issued on {issued:%Y-%m-%d}, after now",
            code="credential_not_yet_valid",
        )
    return issued


def _signer(
    header: dict[str, Any],
    payload: dict[str, Any],
    consortium: Consortium,
    now: dt.datetime,
    issued: dt.datetime,
) -> JWK:
    """The issuer's public key, once its certificate checks out against the pinned CAs."""
    chain = header.get("x5c")
    if not (isinstance(chain, list) and len(chain) == 1 and isinstance(chain[0], str)):
        raise malformed("the credential must carry its signing certificate (x5c)")
    pem = _certificate_pem(chain[0])
    try:
        identity = consortium.authenticator().identify(pem, now, signed_at=min(issued, now))
    except AuthenticationError as exc:
        code = _CERTIFICATE_CODES.get(exc.code, "credential_malformed")
        raise CredentialError(f"the issuer's certificate: {exc}", code=code) from None
    if identity.org_id != payload.get("iss"):
        raise CredentialError(
            f"signed by {identity.org_id}, not by the issuer it names",
            code="credential_wrong_issuer",
        )
    if identity.role != "agency":
        raise CredentialError(
            f"{identity.org_id} is not an agency: it issues no credentials",
            code="credential_wrong_issuer",
        )
    key = load_certificate(pem).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)  # the authenticator insists
    return JWK.from_pyca(key)


def _certificate_pem(b64: str) -> str:
    """The PEM of an ``x5c`` entry (standard base64 of DER, RFC 7515)."""
    try:
        return cert_pem(x509.load_der_x509_certificate(base64.b64decode(b64, validate=True)))
    except (binascii.Error, ValueError):
        raise malformed("the signing certificate is not a base64 DER certificate") from None


def _digest(disclosure: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(disclosure.encode()).digest()).decode().rstrip("=")
    )


def _names_a_claim(disclosure: str) -> bool:
    """Whether the disclosure is of an object's claim: [salt, name, value], names text."""
    try:
        decoded = _b64url_decoded(disclosure)
    except (ValueError, MalformedError):
        return False
    return (
        isinstance(decoded, list)
        and len(decoded) == 3
        and all(isinstance(part, str) for part in decoded[:2])
    )


def _claims(credential: Credential, signed: dict[str, Any], key: JWK) -> dict[str, Any]:
    """The signed payload (as decoded before its signature was checked) with the
    disclosed claims, once the signature holds and every disclosure is the issuer's."""
    try:
        verifier = SDJWTVerifier(credential.sd_jwt, lambda _iss, _header: key)
    except JWException:
        raise CredentialError(
            "the issuer's signature does not verify", code="credential_forged"
        ) from None
    except (ValueError, UnicodeError, RecursionError):  # the library parses them unsigned
        raise CredentialError(
            "a disclosure is not well formed", code="credential_altered"
        ) from None
    digests = signed.get("_sd", [])
    given = credential.sd_jwt.split("~")[1:-1]
    if any(_digest(d) not in digests for d in given) or len(set(given)) != len(given):
        raise CredentialError(
            "a disclosure is not one the issuer signed", code="credential_altered"
        )
    if not all(map(_names_a_claim, given)):  # the library takes any three items
        raise malformed("a disclosure is not a salt, a claim's name and its value")
    try:
        claims: dict[str, Any] = verifier.get_verified_payload()
    except (ValueError, RecursionError):
        raise CredentialError("the disclosures contradict", code="credential_altered") from None
    return claims


def _proven(proof_text: str, binding: Binding, consortium: Consortium, quorum: int) -> Any:
    try:
        proof = TlogProof.parse(proof_text)
    except TlogProofError as exc:
        raise malformed(f"the event's proof: {exc}") from None
    log_key = ckpt.NoteVerifier.from_vkey(consortium.log_vkey)
    try:
        cosigned = ckpt.open_checkpoint(
            proof.checkpoint, log_key, consortium.witness_verifiers(), 0, origin=consortium.origin
        )
    except ckpt.CheckpointError:
        raise CredentialError(
            "the event's checkpoint is not signed by the pinned consortium's log",
            code="credential_foreign_consortium",
        ) from None
    if len(cosigned.witnesses) < quorum:
        raise CredentialError(
            f"the event's checkpoint has {len(cosigned.witnesses)} of the {quorum} "
            "witness cosignatures asked for",
            code="credential_not_witnessed",
        )
    try:
        leaf = base64.b64decode(binding.leaf_hash, validate=True)
        if proof.index != binding.index:
            raise AuditFailedError("the proof is of another log position")
        return verify_tlog_proof(proof, consortium, leaf=leaf, quorum=quorum)
    except (AuditFailedError, ValueError) as exc:
        raise CredentialError(
            f"the tlog-proof does not prove the signed event: {exc}", code="credential_unproven"
        ) from None


def verify(
    data: str | bytes,
    consortium: Consortium,
    *,
    now: dt.datetime,
    quorum: int | None = None,
    ahead: bool = False,
) -> Verified:
    """Check a credential against ``consortium`` (the verifier's own pinned file), its
    event under a checkpoint cosigned by ``quorum`` witnesses (default the file's).
    ``ahead``: one not valid yet passes too, as its issuer checks it and prints it."""
    credential = Credential.parse(data)
    jwt = credential.sd_jwt.split("~", 1)[0]
    parts = jwt.split(".")
    if len(parts) != 3:
        raise malformed("the issuer-signed JWT has three parts")
    header, payload = _b64url_json(parts[0], "header"), _b64url_json(parts[1], "payload")
    if header.get("alg") != ALG or header.get("typ") != TYP:
        raise malformed(f"a credential is an {TYP} signed with {ALG}")
    issued = _issued(payload, now)
    key = _signer(header, payload, consortium, now, issued)
    claims = _claims(credential, payload, key)
    kind = _kind(claims)
    expires = _time(claims.get("exp"), "expiry (exp)")
    if now >= expires:
        raise CredentialError(
            f"the credential expired on {expires:%Y-%m-%d}", code="credential_expired"
        )
    not_before = _not_before(claims)
    if not_before is not None and now < not_before and not ahead:
        raise CredentialError(
            f"the credential is valid from {not_before:%Y-%m-%d}", code="credential_not_yet_valid"
        )
    binding = Binding.from_claim(claims.get("ledger"), kind)
    if binding.origin != consortium.origin:
        raise CredentialError(
            f"the event is in ledger {binding.origin!r}, not the pinned consortium's",
            code="credential_foreign_consortium",
        )
    proven = _proven(credential.tlog_proof, binding, consortium, _quorum(quorum, consortium))
    return Verified(
        kind=kind,
        issuer=str(claims["iss"]),
        pid=claims["sub"],
        disclosed={name: claims[name] for name in DISCLOSABLE_OF[kind] if name in claims},
        expires=expires,
        issued_at=issued,
        binding=binding,
        tree_size=proven.checkpoint.checkpoint.size,
        witnesses=tuple(proven.checkpoint.witnesses),
        not_before=not_before,
    )


def as_issued(verified: Verified, subject: Subject, recorded: dt.datetime) -> None:
    """Refuse (``credential_altered``) a credential that states what issuing it for
    ``subject``, from an event the ledger dates ``recorded``, would not have: a disclosed
    claim of another value than the subject's (one it does not state, such as the day
    she registered, kept off the ledger, is the issuer's word); an expiry after the
    subject ends; a not-before that is not the day it begins, or none on one issued
    before that day; an issue time before the event (beyond ISSUE_SLACK). Offline the
    issuer's signature vouches for all of it, so a key rotated out (stolen, say) signs
    any terms dated back before its rotation; its ledger event tells them apart."""
    differ = sorted(
        name
        for name, value in verified.disclosed.items()
        if name in subject.claims and subject.claims[name] != value
    )
    if differ:
        raise _contradicts(f"its {', '.join(differ)} differ from its ledger event's")
    if verified.expires > subject.ends:
        raise _contradicts("it expires after its ledger event's end")
    begins, issued = subject.begins, verified.issued_at
    if verified.not_before is None:
        if begins is not None and issued < begins:
            raise _contradicts("it is valid before its ledger event's start")
    elif verified.not_before != begins or issued >= verified.not_before:
        raise _contradicts("its not-before is not as issuing sets it")
    if issued < recorded - ISSUE_SLACK:
        raise _contradicts("it says it was issued before its ledger event")


def _contradicts(what: str) -> CredentialError:
    return CredentialError(f"the credential is not as issued: {what}", code="credential_altered")


_STANDARD = frozenset({"iss", "sub", "vct", "iat", "nbf", "exp", "ledger", "cnf", "_sd", "_sd_alg"})


def _not_before(claims: dict[str, Any]) -> dt.datetime | None:
    """When a credential issued before what it states begins becomes valid (``nbf``)."""
    return _time(claims["nbf"], "not-before (nbf)") if "nbf" in claims else None


def _time(value: object, what: str) -> dt.datetime:
    """A time claim: whole seconds since the epoch (JWT NumericDate) that a date holds,
    in years 1 to 9999; the issuer's signature vouches for the value, not its sense."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise malformed(f"the credential's {what} is not a time")
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise malformed(f"the credential's {what} is no date") from None


def _kind(claims: dict[str, Any]) -> str:
    """The credential's kind, once it carries that kind's claims and no other."""
    kinds = [kind for kind, vct in VCTS.items() if claims.get("vct") == vct]
    if not kinds or not isinstance(claims.get("sub"), str):
        raise malformed("the credential is not an entitlement or a registration credential")
    foreign = sorted(set(claims) - _STANDARD - set(DISCLOSABLE_OF[kinds[0]]))
    if foreign:
        raise malformed(f"a {kinds[0]} credential does not state {', '.join(foreign)}")
    return kinds[0]


def _quorum(asked: int | None, consortium: Consortium) -> int:
    return consortium.witness_quorum if asked is None else asked
