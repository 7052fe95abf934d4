"""Signed transaction proposals: what an organisation submits to any backend.

As in Fabric, the transaction ID is SHA-256(nonce ‖ creator) so that a client
knows it before submitting and can safely retry: the same ID never carries other
content. The signature covers the canonical JSON of the proposal.

A log entry names the creator by its certificate's reference (SHA-256 of its DER)
instead of carrying the PEM: the log holds each certificate once, beside the entries.
The leaf commits to the reference, so no other certificate can be put in its place,
and the signed bytes are the proposal again with the certificate the reference names.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import orjson

from chaincode.canonical import canonical_json
from ledger_gw.errors import AuthenticationError
from ledger_gw.identity import Signer, fingerprint
from ledger_gw.log.entry import Entry

NONCE_BYTES = 24
_PROPOSAL_FIELDS = frozenset({"creator", "nonce", "timestamp", "function", "args"})


def format_time(when: dt.datetime) -> str:
    """ISO 8601 UTC with microseconds: one spelling per instant, so hashes are stable."""
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    if when.tzinfo is not dt.UTC:
        when = when.astimezone(dt.UTC)
    return when.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> dt.datetime:
    if len(text) != 27 or text[-1] != "Z" or text[10] != "T":
        raise ValueError(f"timestamp {text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    when = dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    if format_time(when) != text:
        raise ValueError(f"non-canonical timestamp {text!r}")
    return when


Certificates = Mapping[str, str]  # certificate reference → PEM


@lru_cache(maxsize=4096)  # a consortium has few certificates; a caller may send many
def certificate_ref(pem: str) -> str:
    """SHA-256 (hex) of the certificate's DER, the fingerprint the consortium file's key
    list names it by: one name for it, however the PEM is wrapped."""
    return fingerprint(pem)


@dataclass(frozen=True)
class Proposal:
    creator: str  # PEM certificate of the signer
    nonce: str  # base64
    timestamp: str  # format_time()
    function: str
    args: tuple[Any, ...]  # JSON values; events are objects, query arguments strings

    @cached_property
    def tx_id(self) -> str:
        return hashlib.sha256(base64.b64decode(self.nonce) + self.creator.encode()).hexdigest()

    @cached_property
    def time(self) -> dt.datetime:
        return parse_time(self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "creator": self.creator,
            "nonce": self.nonce,
            "timestamp": self.timestamp,
            "function": self.function,
            "args": list(self.args),
        }

    @cached_property
    def payload(self) -> bytes:
        """The signed bytes."""
        return canonical_json(self.to_dict())

    @cached_property
    def logged(self) -> bytes:
        """The proposal as a log entry holds it: the creator named by its reference."""
        return canonical_json({**self.to_dict(), "creator": certificate_ref(self.creator)})

    @classmethod
    def from_payload(cls, payload: bytes) -> Proposal:
        """The proposal whose signed bytes are exactly `payload`, kept as they came rather
        than encoded again. Raises ValueError for anything `payload` would not produce."""
        p = _parse(payload)
        proposal = cls(p["creator"], p["nonce"], p["timestamp"], p["function"], tuple(p["args"]))
        vars(proposal)["payload"] = payload  # the cached property, already known
        return proposal

    @classmethod
    def from_logged(cls, logged: bytes, certificates: Certificates) -> Proposal:
        """The proposal a log entry holds, its creator's certificate found by reference.
        Raises ValueError for anything `logged` would not produce, or an unknown or
        mismatched certificate."""
        p = _parse(logged)
        pem = certificates.get(p["creator"])
        if pem is None:
            raise ValueError(f"unknown certificate {p['creator'][:16]}")
        if certificate_ref(pem) != p["creator"]:
            raise ValueError(f"certificate {p['creator'][:16]} is not the one named")
        proposal = cls(pem, p["nonce"], p["timestamp"], p["function"], tuple(p["args"]))
        vars(proposal)["logged"] = logged  # the cached property, already known
        return proposal

    def contract_args(self) -> list[bytes]:
        return [a.encode() if isinstance(a, str) else canonical_json(a) for a in self.args]


def _parse(data: bytes) -> dict[str, Any]:
    """A proposal's fields from its canonical JSON; ValueError for anything else."""
    try:
        p = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"malformed proposal: {exc}") from exc
    if type(p) is not dict or set(p) != _PROPOSAL_FIELDS or type(p["args"]) is not list:
        raise ValueError("malformed proposal: unexpected fields")
    if any(type(p[name]) is not str for name in _PROPOSAL_FIELDS - {"args"}):
        raise ValueError("malformed proposal: fields must be strings")
    try:
        canonical = canonical_json(p)
    except TypeError as exc:
        raise ValueError(f"malformed proposal: {exc}") from exc
    if canonical != data:
        raise ValueError("malformed proposal: not in canonical form")
    check_nonce(p["nonce"])
    return p


def check_nonce(nonce: str) -> None:
    """The nonce in its one base64 spelling: a decoder ignores a final character's
    unused bits, so a second spelling of the same bytes would give a second signed
    transaction the first one's ID (and the ledger would answer it as a retry)."""
    raw = base64.b64decode(nonce, validate=True)
    if not raw or base64.b64encode(raw).decode() != nonce:
        raise ValueError("malformed proposal: the nonce is not in canonical base64")


@dataclass(frozen=True)
class SignedTransaction:
    proposal: Proposal
    signature: bytes

    @property
    def tx_id(self) -> str:
        return self.proposal.tx_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal": self.proposal.to_dict(),
            "signature": base64.b64encode(self.signature).decode(),
        }

    def entry(self, result: bytes, effects: str) -> Entry:
        """The log entry that records this transaction and what it did."""
        return Entry(self.proposal.logged, self.signature, result, effects)

    @classmethod
    def of_entry(cls, entry: Entry, certificates: Certificates) -> SignedTransaction:
        """The transaction a log entry carries, with its creator's certificate."""
        try:
            return cls(Proposal.from_logged(entry.proposal, certificates), entry.signature)
        except ValueError as exc:
            raise AuthenticationError(
                f"malformed transaction: {exc}", code="malformed_transaction"
            ) from exc

    @classmethod
    def from_dict(cls, data: Any) -> SignedTransaction:
        try:
            p = data["proposal"]
            proposal = Proposal(
                creator=str(p["creator"]),
                nonce=str(p["nonce"]),
                timestamp=str(p["timestamp"]),
                function=str(p["function"]),
                args=tuple(p["args"]),
            )
            check_nonce(proposal.nonce)
            proposal.time  # checked here, and kept for the signature's checks  # noqa: B018
            proposal.payload  # canonical JSON, or TypeError (a float)  # noqa: B018
            return cls(proposal, base64.b64decode(data["signature"], validate=True))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthenticationError(
                f"malformed transaction: {exc}", code="malformed_transaction"
            ) from exc


def sign_proposal(
    signer: Signer,
    function: str,
    args: Sequence[Any],
    *,
    clock: Callable[[], dt.datetime] | None = None,
) -> SignedTransaction:
    now = clock() if clock is not None else dt.datetime.now(dt.UTC)
    proposal = Proposal(
        creator=signer.cert_pem,
        nonce=base64.b64encode(os.urandom(NONCE_BYTES)).decode(),
        timestamp=format_time(now),
        function=function,
        args=tuple(args),
    )
    return SignedTransaction(proposal, signer.sign(proposal.payload))
