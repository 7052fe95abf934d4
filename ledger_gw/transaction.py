"""Signed transaction proposals: what an organisation submits to any backend.

As in Fabric, the transaction ID is SHA-256(nonce ‖ creator) so that a client
knows it before submitting and can safely retry: the same ID never carries other
content. The signature covers the canonical JSON of the proposal.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from chaincode.canonical import canonical_json
from ledger_gw.errors import AuthenticationError
from ledger_gw.identity import Signer
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

    @classmethod
    def from_payload(cls, payload: bytes) -> Proposal:
        """The proposal whose signed bytes are exactly `payload`, kept as they came rather
        than encoded again. Raises ValueError for anything `payload` would not produce."""
        try:
            p = orjson.loads(payload)
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
        if canonical != payload:
            raise ValueError("malformed proposal: not in canonical form")
        proposal = cls(p["creator"], p["nonce"], p["timestamp"], p["function"], tuple(p["args"]))
        vars(proposal)["payload"] = payload  # the cached property, already known
        return proposal

    def contract_args(self) -> list[bytes]:
        return [a.encode() if isinstance(a, str) else canonical_json(a) for a in self.args]


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
        return Entry(self.proposal.payload, self.signature, result, effects)

    @classmethod
    def of_entry(cls, entry: Entry) -> SignedTransaction:
        """The transaction a log entry carries, its proposal kept as the signed bytes."""
        try:
            return cls(Proposal.from_payload(entry.proposal), entry.signature)
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
            base64.b64decode(proposal.nonce, validate=True)
            proposal.time  # checked here, and kept for the signature's checks  # noqa: B018
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
