"""An organisation-signed request between gateways: the fetching organisation signs the
method, path, its own ID, the time and a fresh nonce with its ledger signing key; the
serving gateway checks the certificate against the consortium file (the same check a
ledger transaction gets) and refuses a stale time. Remembering nonces, so that a copied
request is refused, is the serving gateway's part."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from chaincode.canonical import canonical_json
from ledger_gw.errors import AuthenticationError, LedgerError
from ledger_gw.identity import Authenticator, Signer

CERTIFICATE = "Ledger-Org-Certificate"
TIMESTAMP = "Ledger-Timestamp"
NONCE = "Ledger-Nonce"
SIGNATURE = "Ledger-Signature"
#: How far a request's time may be from the server's: the window its nonce is kept for.
SKEW = dt.timedelta(minutes=5)
_NONCE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class SignedRequest:
    org_id: str
    nonce: str
    at: dt.datetime


def _payload(method: str, path: str, org_id: str, timestamp: str, nonce: str) -> bytes:
    return canonical_json(
        {
            "method": method.upper(),
            "path": path,
            "org": org_id,
            "timestamp": timestamp,
            "nonce": nonce,
        }
    )


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(signer: Signer, method: str, path: str, now: dt.datetime) -> dict[str, str]:
    """The headers that make a request the signer's organisation's, once."""
    timestamp, nonce = _stamp(now), secrets.token_hex(16)
    payload = _payload(method, path, signer.org_id, timestamp, nonce)
    return {
        CERTIFICATE: base64.b64encode(signer.cert_pem.encode()).decode("ascii"),
        TIMESTAMP: timestamp,
        NONCE: nonce,
        SIGNATURE: base64.b64encode(signer.sign(payload)).decode("ascii"),
    }


def _refused(message: str, code: str = "request_signature_invalid") -> AuthenticationError:
    return AuthenticationError(message, code=code)


def verify(
    authenticator: Authenticator,
    method: str,
    path: str,
    headers: Mapping[str, str],
    now: dt.datetime,
) -> SignedRequest:
    """The organisation that signed the request, or a refusal."""
    missing = [h for h in (CERTIFICATE, TIMESTAMP, NONCE, SIGNATURE) if not headers.get(h)]
    if missing:
        raise _refused(
            f"the request is not signed: {', '.join(missing)} missing", "request_unsigned"
        )
    timestamp, nonce = headers[TIMESTAMP], headers[NONCE]
    try:
        at = dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        pem = base64.b64decode(headers[CERTIFICATE], validate=True).decode("ascii")
        signature = base64.b64decode(headers[SIGNATURE], validate=True)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _refused("the request's signature headers are malformed") from None
    if not _NONCE.fullmatch(nonce):
        raise _refused("the request's nonce is not 32 hex digits")
    if abs(now - at) > SKEW:
        raise _refused("the request's time is too far from now", "request_stale")
    try:
        org_id = authenticator.identify(pem, at).org_id
        identity = authenticator.authenticate(
            pem, signature, _payload(method, path, org_id, timestamp, nonce), at
        )
        authenticator.not_retired(pem, now)  # a rotated-out key dating a request back
    except LedgerError as exc:
        raise _refused(f"the request's signature does not verify: {exc}") from None
    return SignedRequest(identity.org_id, nonce, at)
