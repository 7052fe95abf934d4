"""The credential as a person carries it: one text, small enough for a QR code.

    ledger-gw-credential@v1
    <SD-JWT presentation: issuer-signed JWT~disclosure~...~>
    <C2SP tlog-proof of the establishing event, verbatim>

The tlog-proof sits outside the signature: it proves itself (the log's signature and the
witnesses' cosignatures), and the signed JWT names the leaf it must prove.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger_gw.errors import CredentialError

CARD_HEADER = "ledger-gw-credential@v1"
#: The SD-JWT VC type of each kind of credential.
VCT_ENTITLEMENT = "urn:referral-ledger:credential:entitlement"
VCT_REGISTRATION = "urn:referral-ledger:credential:registration"
VCTS = {"entitlement": VCT_ENTITLEMENT, "registration": VCT_REGISTRATION}
KINDS = tuple(VCTS)
#: The field naming, in the ``ledger`` claim, what the establishing event is about.
REFERENCES = {"entitlement": "entitlement_id", "registration": "consent_id"}
#: The JOSE ``typ`` of an SD-JWT VC (draft-ietf-oauth-sd-jwt-vc).
TYP = "dc+sd-jwt"
ALG = "ES256"
#: Claims the person may choose to show, by kind; everything else is always shown. A
#: registration's never include a personal attribute: those stay off-chain and off-card.
DISCLOSABLE_OF = {
    "entitlement": ("programme", "assistance_type", "valid_from", "valid_until"),
    "registration": ("registered_on",),
}
DISCLOSABLE = DISCLOSABLE_OF["entitlement"]


def malformed(message: str) -> CredentialError:
    return CredentialError(message, code="credential_malformed")


@dataclass(frozen=True)
class Binding:
    """The ledger event a credential stands on: where it is in the log and what it is."""

    origin: str  # the log's checkpoint origin: which consortium's ledger
    tx_id: str
    index: int
    leaf_hash: str  # base64, as tlog-proofs write hashes
    ref: str  # what the event is about: the entitlement, or the consent, by its ID
    kind: str = "entitlement"

    def to_claim(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tx_id": self.tx_id,
            "index": self.index,
            "leaf_hash": self.leaf_hash,
            REFERENCES[self.kind]: self.ref,
        }

    @classmethod
    def from_claim(cls, claim: object, kind: str) -> Binding:
        if not isinstance(claim, dict):
            raise malformed("the credential names no ledger event")
        others = set(REFERENCES.values()) - {REFERENCES[kind]}
        if others & set(claim):
            raise malformed(f"a {kind} credential's ledger event names {others & set(claim)}")
        try:
            binding = cls(
                str(claim["origin"]),
                str(claim["tx_id"]),
                claim["index"],
                str(claim["leaf_hash"]),
                str(claim[REFERENCES[kind]]),
                kind,
            )
        except KeyError as exc:
            raise malformed(f"the ledger event lacks {exc}") from None
        if isinstance(binding.index, bool) or not isinstance(binding.index, int):
            raise malformed("the ledger event's index is not a whole number")
        return binding


@dataclass(frozen=True)
class Credential:
    sd_jwt: str  # the SD-JWT presentation, ending in "~" (no key binding)
    tlog_proof: str

    def text(self) -> str:
        return f"{CARD_HEADER}\n{self.sd_jwt}\n{self.tlog_proof}"

    @classmethod
    def parse(cls, data: str | bytes) -> Credential:
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise malformed("a credential is UTF-8 text") from None
        header, _, rest = data.partition("\n")
        sd_jwt, _, proof = rest.partition("\n")
        if header.strip() != CARD_HEADER:
            raise malformed(f"a credential starts with the line {CARD_HEADER}")
        if not sd_jwt.endswith("~") or sd_jwt.count(".") < 2 or not proof:
            raise malformed("a credential holds an SD-JWT line, then a tlog-proof")
        return cls(sd_jwt, proof)
