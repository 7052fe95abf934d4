"""Taking a credential apart and putting altered ones together: what an attacker can do
with a credential in hand and keys of her own (never the issuer's)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS

from ledger_gw.identity import Signer, load_certificate

HEADER = "ledger-gw-credential@v1"


def split(text: str) -> tuple[str, list[str], str]:
    """(issuer-signed JWT, disclosures, tlog-proof) of a credential text."""
    header, sd_jwt, proof = text.split("\n", 2)
    assert header == HEADER
    jwt, *disclosures, last = sd_jwt.split("~")
    assert last == ""
    return jwt, disclosures, proof


def join(jwt: str, disclosures: list[str], proof: str) -> str:
    return "\n".join((HEADER, "~".join((jwt, *disclosures, "")), proof))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def disclosure(name: str, value: object) -> str:
    """A well-formed disclosure of the issuer never made."""
    return b64url(json.dumps([b64url(secrets.token_bytes(16)), name, value]).encode())


def digest(disclosure: str) -> str:
    """What the issuer signs of a disclosure, in its payload's ``_sd``."""
    return b64url(hashlib.sha256(disclosure.encode()).digest())


def disclosed(text: str) -> dict[str, Any]:
    """The claims the credential's disclosures reveal, by name (nothing verified)."""
    _, disclosures, _ = split(text)
    return {unb64url(d)[1]: unb64url(d)[2] for d in disclosures}


def resign(jwt: str, signer: Signer, **changes: Any) -> str:
    """The JWT's payload, changed, signed with ``signer``'s key and certificate."""
    header, payload = unb64url(jwt.split(".")[0]), unb64url(jwt.split(".")[1])
    payload.update(changes)
    der = load_certificate(signer.cert_pem).public_bytes(serialization.Encoding.DER)
    header["x5c"] = [base64.b64encode(der).decode()]
    jws = JWS(payload=json.dumps(payload))
    jws.add_signature(JWK.from_pyca(signer.key), alg="ES256", protected=json.dumps(header))
    return str(jws.serialize(compact=True))


def with_payload(jwt: str, **changes: Any) -> str:
    """The JWT with its payload changed and the issuer's signature kept."""
    header, payload, signature = jwt.split(".")
    claims = unb64url(payload)
    claims.update(changes)
    return ".".join((header, b64url(json.dumps(claims).encode()), signature))
