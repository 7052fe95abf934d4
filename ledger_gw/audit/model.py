"""Values shared by the bundle verifier and the chain checks.

Kept apart so that evidence verifiers (Merkle here, Fabric blocks elsewhere)
and the re-derivation of state machines depend on data, not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    """One failed check: a stable code, a sentence for a person, where it happened."""

    code: str
    message: str
    position: int | None = None
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "position": self.position,
            "event_id": self.event_id,
        }


@dataclass
class AuditedEvent:
    """An event taken from the evidence, with what has been verified about it.

    ``org`` comes from the signer's certificate (O=), never from the event body,
    so the actor checks judge who really signed.
    """

    position: int
    tx_id: str
    timestamp: str
    org: str | None
    event: dict[str, Any]
    result: dict[str, Any]
    included: bool = False
    signature_ok: bool = False
    problems: list[Failure] = field(default_factory=list)

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id", ""))

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))
