"""Issuing: the agency signs an SD-JWT VC with its member key, every claim she may hide
made selectively disclosable, and keeps in the credential only those she chose to show."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer

from ledger_gw.credentials.format import (
    ALG,
    DISCLOSABLE_OF,
    TYP,
    VCTS,
    Binding,
    Credential,
)
from ledger_gw.errors import ValidationError
from ledger_gw.identity import Signer, load_certificate


def _day_end(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(), dt.UTC)


@dataclass(frozen=True)
class Subject:
    """What the credential says of her: her pseudonymous ID, the kind's claims she may
    hide, and when what it states ends."""

    kind: str
    pid: str
    claims: Mapping[str, str]
    ends: dt.datetime

    @classmethod
    def entitlement(
        cls, pid: str, programme: str, assistance_type: str, valid_from: str, valid_until: str
    ) -> Subject:
        """An entitlement's terms, to the end of its last day (UTC)."""
        terms = {
            "programme": programme,
            "assistance_type": assistance_type,
            "valid_from": valid_from,
            "valid_until": valid_until,
        }
        return cls("entitlement", pid, terms, _day_end(valid_until))

    @classmethod
    def registration(cls, pid: str, registered_on: str, consent_expires: str) -> Subject:
        """Her registration, while the consent that records it on the ledger holds (a
        consent is active before its ``expires`` day)."""
        ends = dt.datetime.combine(dt.date.fromisoformat(consent_expires), dt.time(), dt.UTC)
        return cls("registration", pid, {"registered_on": registered_on}, ends)


def expiry(subject: Subject, requested: dt.datetime | None) -> dt.datetime:
    """When what it states ends, or earlier when asked."""
    return subject.ends if requested is None else min(subject.ends, requested)


def _disclosed(kind: str, disclose: Iterable[str]) -> set[str]:
    chosen = set(disclose)
    allowed = DISCLOSABLE_OF[kind]
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise ValidationError(
            f"only {', '.join(allowed)} may be disclosed, not {', '.join(unknown)}",
            code="invalid_value",
            field="disclose",
        )
    return chosen


def issue(
    signer: Signer,
    subject: Subject,
    binding: Binding,
    tlog_proof: str,
    disclose: Iterable[str],
    *,
    now: dt.datetime,
    expires: dt.datetime | None = None,
) -> Credential:
    """The credential, signed as ``signer``'s organisation (its certificate in ``x5c``,
    checked by verifiers against the CA their pinned consortium file lists)."""
    chosen = _disclosed(subject.kind, disclose)
    exp = expiry(subject, expires)
    if exp <= now:
        raise ValidationError(
            "the credential would be expired already", code="invalid_value", field="expires"
        )
    claims: dict[object, object] = {
        "iss": signer.org_id,
        "sub": subject.pid,
        "vct": VCTS[subject.kind],
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
        "ledger": binding.to_claim(),
    }
    claims.update({SDObj(name): value for name, value in subject.claims.items()})
    der = load_certificate(signer.cert_pem).public_bytes(serialization.Encoding.DER)
    issued = SDJWTIssuer(
        claims,
        JWK.from_pyca(signer.key),
        sign_alg=ALG,
        add_decoy_claims=False,  # every credential hides the same claims: no count to hide
        extra_header_parameters={"typ": TYP, "x5c": [base64.b64encode(der).decode()]},
    )
    holder = SDJWTHolder(issued.sd_jwt_issuance)
    holder.create_presentation({name: True for name in chosen})
    return Credential(holder.sd_jwt_presentation, tlog_proof)
