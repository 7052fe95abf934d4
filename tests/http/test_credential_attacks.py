"""A person's credential under attack: a dishonest holder, a dishonest issuing agency
(its key, stolen, signing what it likes), a hostile file or photo, a caller the ledger
does not answer. Each is refused with its code, never a crash or a guess.

Real SQLite ledger, real witnesses (quorum 2), real signatures, real QR codes.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import secrets
import zlib
from typing import Any

import pytest
import segno
from api_helpers import Api
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ledger_gw.consortium import Consortium
from ledger_gw.credentials import card
from ledger_gw.errors import CredentialError, ForbiddenError
from ledger_gw.identity import Signer
from ledger_gw.services import credentials, registrations
from ledger_gw.services.gateway import Gateway
from tests.http.test_credentials import PURPOSE, as_, granted
from tests.support import credentials as forge
from tests.support import events as ev
from tests.support.witnesses import settled

ALL_TERMS = ["programme", "assistance_type", "valid_from", "valid_until"]


def refused(text: str | bytes, consortium: Consortium, **kw: Any) -> str:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(CredentialError) as caught:
        credentials.verify_offline(data, consortium, **kw)
    return caught.value.code


def card_of(gateway: Gateway, pid: str | None = None, disclose: list[str] = ALL_TERMS) -> str:
    grant = granted(gateway, pid)
    made = credentials.issue(
        gateway, as_(gateway, "AGENCY-A"), grant["event_id"], PURPOSE, disclose
    )
    return made.credential.text()


def signed(header: dict[str, Any], payload: dict[str, Any], signer: Signer) -> str:
    """A compact JWS over exactly this header and payload, by ``signer``'s key: what a
    library refusing to make such a header would not sign."""
    head = forge.b64url(json.dumps(header).encode())
    body = forge.b64url(json.dumps(payload).encode())
    der = signer.key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{head}.{body}.{forge.b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def parts(jwt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = jwt.split(".")
    return forge.unb64url(head), forge.unb64url(body)


def qr_png(payload: bytes) -> bytes:
    out = io.BytesIO()
    segno.make_qr(payload, error="l", mode="byte").save(out, kind="png", scale=3, border=4)
    return out.getvalue()


# --- a dishonest issuer: times no date holds, names no claim is ---------------------

YEAR_10000 = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()) + 1


@pytest.mark.parametrize(
    "claim",
    [
        {"exp": YEAR_10000},
        {"exp": 10**20},
        {"nbf": YEAR_10000},
        {"nbf": -(10**15)},
        {"exp": 1.5e9},
        {"exp": "2030-01-01"},
        {"nbf": 10**20},
    ],
    ids=repr,
)
def test_a_time_no_date_holds_is_malformed(gateway: Gateway, claim: dict[str, Any]) -> None:
    """The issuer's signature vouches for the claim, not for its being a time."""
    jwt, disclosures, proof = forge.split(card_of(gateway))
    bad = forge.resign(jwt, gateway.workspace.signer("AGENCY-A"), **claim)
    assert refused(forge.join(bad, disclosures, proof), gateway.workspace.consortium) == (
        "credential_malformed"
    )


def test_the_last_second_of_year_9999_is_a_time(gateway: Gateway) -> None:
    jwt, disclosures, proof = forge.split(card_of(gateway))
    far = forge.resign(jwt, gateway.workspace.signer("AGENCY-A"), exp=YEAR_10000 - 1)
    seen = credentials.verify_offline(forge.join(far, disclosures, proof).encode(),
                                      gateway.workspace.consortium)  # fmt: skip
    assert seen.expires.year == 9999


def test_a_time_no_date_holds_is_a_problem_over_http(api: Api, gateway: Gateway) -> None:
    jwt, disclosures, proof = forge.split(card_of(gateway))
    bad = forge.join(forge.resign(jwt, gateway.workspace.signer("AGENCY-A"), exp=YEAR_10000),
                     disclosures, proof)  # fmt: skip
    r = api.as_("AUDITOR-X", "auditor").post("/v1/credentials/verify", json={"credential": bad})
    assert (r.status_code, r.json["code"]) == (422, "credential_malformed"), r.json


@pytest.mark.parametrize("name", [5, None, ["programme"]], ids=repr)
def test_a_disclosure_naming_no_claim_is_malformed(gateway: Gateway, name: object) -> None:
    """A disclosure's claim name that is not a string, its digest signed by the issuer."""
    jwt, disclosures, proof = forge.split(card_of(gateway))
    odd = forge.b64url(json.dumps([forge.b64url(secrets.token_bytes(16)), name, "x"]).encode())
    _, payload = parts(jwt)
    bad = forge.resign(jwt, gateway.workspace.signer("AGENCY-A"),
                       _sd=[*payload["_sd"], forge.digest(odd)])  # fmt: skip
    assert refused(forge.join(bad, [*disclosures, odd], proof), gateway.workspace.consortium) == (
        "credential_malformed"
    )


@pytest.mark.parametrize("claim", ["iss", "sub", "vct", "ledger", "exp"])
def test_a_disclosure_colliding_with_a_signed_claim_is_refused(
    gateway: Gateway, claim: str
) -> None:
    """The issuer signs the digest of a disclosure that would overwrite a claim it shows."""
    jwt, disclosures, proof = forge.split(card_of(gateway))
    twin = forge.disclosure(claim, "AGENCY-B")
    _, payload = parts(jwt)
    bad = forge.resign(jwt, gateway.workspace.signer("AGENCY-A"),
                       _sd=[*payload["_sd"], forge.digest(twin)])  # fmt: skip
    assert refused(forge.join(bad, [*disclosures, twin], proof), gateway.workspace.consortium) == (
        "credential_altered"
    )


# --- a dishonest holder: disclosures and proofs of other cards ----------------------


def test_disclosures_swapped_between_cards_are_refused(gateway: Gateway) -> None:
    """Two cards of hers (the same terms, other salts) and a card of someone else's: a
    disclosure of one is never the issuer's in another, even of the same claim's value."""
    pinned, pid = gateway.workspace.consortium, ev.pid()
    mine, mine_too, theirs = card_of(gateway, pid), card_of(gateway, pid), card_of(gateway)
    jwt, disclosures, proof = forge.split(mine)
    for other in (mine_too, theirs):
        _, foreign, _ = forge.split(other)
        assert forge.disclosed(other) == forge.disclosed(mine)  # the same values...
        for n in range(len(disclosures)):
            swapped = [*disclosures[:n], foreign[n], *disclosures[n + 1 :]]
            assert refused(forge.join(jwt, swapped, proof), pinned) == "credential_altered"
    resalted = [forge.disclosure("programme", forge.disclosed(mine)["programme"])]
    assert refused(forge.join(jwt, [*disclosures, *resalted], proof), pinned) == (
        "credential_altered"
    )
    assert refused(forge.join(jwt, [*disclosures, forge.digest("decoy")], proof), pinned) == (
        "credential_altered"
    )


def test_a_proof_of_another_index_or_another_log_is_refused(gateway: Gateway) -> None:
    pinned = gateway.workspace.consortium
    first = card_of(gateway)
    jwt, disclosures, proof = forge.split(first)
    body, _, note = proof.partition("\n\n")
    head, index, *hashes_ = body.split("\n")
    assert index.startswith("index ")
    moved = "\n".join((head, f"index {int(index.split()[1]) + 1}", *hashes_))
    assert refused(forge.join(jwt, disclosures, f"{moved}\n\n{note}"), pinned) == (
        "credential_unproven"
    )
    origin = note.split("\n", 1)[0]
    renamed = note.replace(origin, origin + "-other", 1)
    assert refused(forge.join(jwt, disclosures, f"{body}\n\n{renamed}"), pinned) == (
        "credential_foreign_consortium"
    )


def test_a_checkpoint_cosigned_by_too_few_or_the_wrong_witnesses_is_refused(
    gateway: Gateway,
) -> None:
    pinned = gateway.workspace.consortium
    jwt, disclosures, proof = forge.split(card_of(gateway))
    body, _, note = proof.partition("\n\n")
    lines = note.rstrip("\n").split("\n")
    kept = [line for line in lines if "witness.auditor-x" not in line]
    agency = next(line for line in kept if "witness.agency-a" in line)

    def with_lines(*extra: str) -> str:
        return forge.join(jwt, disclosures, body + "\n\n" + "\n".join([*kept, *extra]) + "\n")

    # the same witness twice does not make two
    assert refused(with_lines(agency), pinned) in {
        "credential_not_witnessed",
        "credential_foreign_consortium",
    }
    # a key of no pinned witness, under a pinned witness's name, counts for nothing
    stranger = "— witness.auditor-x " + base64.b64encode(secrets.token_bytes(4 + 72)).decode()
    assert refused(with_lines(stranger), pinned) == "credential_not_witnessed"
    # a pinned witness's key, its signature not over this checkpoint
    auditor = next(line for line in lines if "witness.auditor-x" in line)
    raw = bytearray(base64.b64decode(auditor.rsplit(" ", 1)[1]))
    raw[-1] ^= 1
    forged = auditor.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode()
    assert refused(with_lines(forged), pinned) == "credential_foreign_consortium"


# --- a forged header ----------------------------------------------------------------


def test_headers_other_than_the_issuers_are_refused(gateway: Gateway) -> None:
    """Another algorithm, type or critical extension, a chain with more certificates
    than its signer's, or keys it points to elsewhere: only the pinned CA's certificate
    in x5c counts, and only as ES256 over a dc+sd-jwt."""
    ws, pinned = gateway.workspace, gateway.workspace.consortium
    jwt, disclosures, proof = forge.split(card_of(gateway))
    header, payload = parts(jwt)
    issuer = ws.signer("AGENCY-A")
    ca = pinned.organisation("AGENCY-A").ca_cert
    ca_der = base64.b64encode(ca.public_bytes(serialization.Encoding.DER)).decode()
    for changes, code in (
        ({"alg": "none"}, "credential_malformed"),
        ({"alg": "HS256"}, "credential_malformed"),
        ({"alg": "ES256K"}, "credential_malformed"),
        ({"typ": "vc+sd-jwt"}, "credential_malformed"),
        ({"typ": "JWT"}, "credential_malformed"),
        ({"crit": ["exp"], "exp": 1}, "credential_forged"),  # an extension it does not know
        ({"x5c": [*header["x5c"], ca_der]}, "credential_malformed"),
        ({"x5c": [ca_der]}, "credential_malformed"),  # the CA is no member certificate
    ):
        forged = signed({**header, **changes}, payload, issuer)
        assert refused(forge.join(forged, disclosures, proof), pinned) == code, changes
    unsigned = ".".join(jwt.split(".")[:2]) + "."
    assert refused(forge.join(unsigned, disclosures, proof), pinned) == "credential_forged"
    # a kid, jku or jwk pointing elsewhere is not where the key is taken from
    for elsewhere in ({"kid": "AGENCY-B"}, {"jku": "https://evil.example/jwks"},
                      {"jwk": {"kty": "EC", "crv": "P-256"}}):  # fmt: skip
        by_b = signed({**header, **elsewhere}, payload, ws.signer("AGENCY-B"))
        assert refused(forge.join(by_b, disclosures, proof), pinned) == "credential_forged"


# --- a hostile photo ----------------------------------------------------------------


def test_a_qr_code_inflating_beyond_a_credential_is_refused() -> None:
    bomb = card.QR_MAGIC + zlib.compress(b"A" * 2_500_000, 9)  # 2.4 kB, a version-38 code
    with pytest.raises(CredentialError) as caught:
        credentials.read(qr_png(bomb))
    assert caught.value.code == "credential_malformed"


def test_a_qr_code_that_is_not_utf8_is_refused_not_mended(gateway: Gateway) -> None:
    """Its bytes are read as they are, or not at all: never with characters replaced."""
    text = card_of(gateway).encode()
    for damaged in (b"\xff" + text, text + b"\xc3", text.replace(b"\n", b"\n\x80", 1)):
        with pytest.raises(CredentialError) as caught:
            credentials.read(qr_png(card.QR_MAGIC + zlib.compress(damaged, 9)))
        assert caught.value.code == "credential_malformed"


# --- the online check -----------------------------------------------------------------


def test_a_caller_whose_consent_does_not_cover_the_purpose_learns_no_status(
    gateway: Gateway,
) -> None:
    pid = ev.pid()
    text = card_of(gateway, pid).encode()
    a, b = as_(gateway, "AGENCY-A"), as_(gateway, "AGENCY-B", "agency-reader")
    gateway.client(a).submit(ev.consent_granted(pid, grantees=["AGENCY-B"], purposes=["referral"]))
    with pytest.raises(ForbiddenError) as caught:
        credentials.verify(gateway, b, text, "service_continuity")
    assert caught.value.code == "credential_status_unknown"
    assert credentials.verify(gateway, b, text, "referral")["status"] == "active"


def test_closed_after_issue_fails_online(gateway: Gateway) -> None:
    grant = granted(gateway)
    a = as_(gateway, "AGENCY-A")
    text = credentials.issue(gateway, a, grant["event_id"], PURPOSE, []).credential.text()
    gateway.client(a).submit(ev.entitlement_step("closed", grant["entitlement_id"]))
    with pytest.raises(CredentialError) as caught:
        credentials.verify(gateway, a, text.encode(), PURPOSE)
    assert caught.value.code == "credential_closed"


def test_a_registration_card_dated_before_its_consent_is_refused_online(
    gateway: Gateway,
) -> None:
    """The registering agency's key, stolen and rotated out, signs a registration card
    dated back to when it was still the agency's: offline it is the issuer's word, as for
    an entitlement's. Online the gateway holds it to the consent it stands on: issued
    before that was recorded, or lasting beyond it, it is not as issued."""
    a = as_(gateway, "AGENCY-A")
    pid = str(registrations.register(gateway, a, {"given_name": "Amina"})["pid"])
    consent = ev.consent_granted(pid)
    gateway.client(a).submit(consent)
    settled(gateway.ledger)
    made = credentials.issue(gateway, a, None, PURPOSE, ["registered_on"], kind="registration",
                             pid=pid)  # fmt: skip
    text = made.credential.text()
    jwt, disclosures, proof = forge.split(text)
    _, claims = parts(jwt)
    stolen = gateway.workspace.signer("AGENCY-A")
    later = int(dt.datetime.fromisoformat(f"{consent['expires']}T00:00:00+00:00").timestamp())
    verifier = as_(gateway, "AGENCY-C")
    for forged in (
        forge.resign(jwt, stolen, iat=claims["iat"] - 3600),  # before her consent
        forge.resign(jwt, stolen, exp=later + 86_400 * 365),  # beyond it
    ):
        card_text = forge.join(forged, disclosures, proof).encode()
        assert credentials.verify(gateway, verifier, card_text, PURPOSE, online=False)["ok"]
        with pytest.raises(CredentialError) as caught:
            credentials.verify(gateway, verifier, card_text, PURPOSE)
        assert caught.value.code == "credential_altered"
    assert credentials.verify(gateway, verifier, text.encode(), PURPOSE)["status"] == "active"
