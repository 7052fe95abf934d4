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

#: How long a credential lasts that hides when its entitlement ends, unless its issuer
#: asks it to end sooner: it cannot expire when the entitlement does, which would show it.
HIDDEN_END_LIFETIME = dt.timedelta(days=30)


def _day_start(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), dt.UTC)


def _day_end(day: str) -> dt.datetime:
    return _day_start(day) + dt.timedelta(days=1)


@dataclass(frozen=True)
class Subject:
    """What the credential says of her: her pseudonymous ID, the kind's claims she may
    hide, and when what it states begins and ends, with the claims that tell them when
    she may hide those (an entitlement's ``valid_from`` and ``valid_until``)."""

    kind: str
    pid: str
    claims: Mapping[str, str]
    ends: dt.datetime
    ends_claim: str | None = None
    begins: dt.datetime | None = None
    begins_claim: str | None = None

    @classmethod
    def entitlement(
        cls, pid: str, programme: str, assistance_type: str, valid_from: str, valid_until: str
    ) -> Subject:
        """An entitlement's terms, from the start of its first day to the end of its
        last (UTC)."""
        terms = {
            "programme": programme,
            "assistance_type": assistance_type,
            "valid_from": valid_from,
            "valid_until": valid_until,
        }
        return cls(
            "entitlement",
            pid,
            terms,
            _day_end(valid_until),
            ends_claim="valid_until",
            begins=_day_start(valid_from),
            begins_claim="valid_from",
        )

    @classmethod
    def registration(cls, pid: str, registered_on: str | None, consent_expires: str) -> Subject:
        """Her registration, while the consent that records it on the ledger holds (a
        consent is active before its ``expires`` day). The day she registered (None:
        unknown) only the registering agency's own store tells."""
        claims = {} if registered_on is None else {"registered_on": registered_on}
        return cls("registration", pid, claims, _day_start(consent_expires))


def expiry(
    subject: Subject, requested: dt.datetime | None, disclosed: set[str], now: dt.datetime
) -> dt.datetime:
    """When what it states ends, or earlier when asked. A credential that hides that end
    lasts as asked, or HIDDEN_END_LIFETIME, and is refused where that outlasts the
    end: either way its expiry would show what she hides."""
    if subject.ends_claim is None or subject.ends_claim in disclosed:
        exp = subject.ends if requested is None else min(subject.ends, requested)
    else:
        exp = now + HIDDEN_END_LIFETIME if requested is None else requested
        if exp > subject.ends:
            raise ValidationError(
                f"the credential would outlast the {subject.kind}, and so tell when it ends, "
                f"which she hides: disclose {subject.ends_claim}, or ask it to expire by then",
                code="credential_outlasts_subject",
                field="expires",
            )
    if exp <= now:
        raise ValidationError(
            "the credential would be expired already", code="invalid_value", field="expires"
        )
    return exp


def not_before(subject: Subject, disclosed: set[str], now: dt.datetime) -> dt.datetime | None:
    """When a credential issued before what it states begins becomes valid: when it
    begins, shown only where she shows that day; hidden, it is refused until then."""
    if subject.begins is None or subject.begins <= now:
        return None
    if subject.begins_claim in disclosed:
        return subject.begins
    raise ValidationError(
        f"the {subject.kind} begins on a later day, which a credential issued now would "
        f"tell, and she hides it: disclose {subject.begins_claim}, or issue it from then",
        code="credential_before_subject",
        field="disclose",
    )


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
    exp = expiry(subject, expires, chosen, now)
    nbf = not_before(subject, chosen, now)
    claims: dict[object, object] = {
        "iss": signer.org_id,
        "sub": subject.pid,
        "vct": VCTS[subject.kind],
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
        "ledger": binding.to_claim(),
    }
    if nbf is not None:
        claims["nbf"] = int(nbf.timestamp())
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
