"""Issuing: the agency signs an SD-JWT VC with its member key, every claim she may hide
made selectively disclosable, and keeps in the credential only those she chose to show."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer

from ledger_gw.credentials.format import (
    ALG,
    DISCLOSABLE,
    TYP,
    VCT_ENTITLEMENT,
    Binding,
    Credential,
)
from ledger_gw.errors import ValidationError
from ledger_gw.identity import Signer, load_certificate


@dataclass(frozen=True)
class Subject:
    """What the credential says of her: her pseudonymous ID and the entitlement's terms."""

    pid: str
    programme: str
    assistance_type: str
    valid_from: str  # ISO dates, as the ledger holds them
    valid_until: str

    def disclosable(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in DISCLOSABLE}


def expiry(subject: Subject, requested: dt.datetime | None) -> dt.datetime:
    """The end of the entitlement's last day (UTC), or earlier when asked."""
    end = dt.datetime.combine(
        dt.date.fromisoformat(subject.valid_until) + dt.timedelta(days=1), dt.time(), dt.UTC
    )
    return end if requested is None else min(end, requested)


def _disclosed(disclose: Iterable[str]) -> set[str]:
    chosen = set(disclose)
    unknown = sorted(chosen - set(DISCLOSABLE))
    if unknown:
        raise ValidationError(
            f"only {', '.join(DISCLOSABLE)} may be disclosed, not {', '.join(unknown)}",
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
    chosen = _disclosed(disclose)
    exp = expiry(subject, expires)
    if exp <= now:
        raise ValidationError(
            "the credential would be expired already", code="invalid_value", field="expires"
        )
    claims: dict[object, object] = {
        "iss": signer.org_id,
        "sub": subject.pid,
        "vct": VCT_ENTITLEMENT,
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
        "ledger": binding.to_claim(),
    }
    claims.update({SDObj(name): value for name, value in subject.disclosable().items()})
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
