"""Errors the contract raises. They cross process and Fabric boundaries as JSON."""

from __future__ import annotations

import json
from typing import Any, ClassVar


class ContractError(Exception):
    """A rejected transaction or query: nothing was written."""

    kind: ClassVar[str] = "rejected"

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ContractError:
        cls = _BY_KIND.get(str(data.get("kind")), ContractError)
        return cls(str(data["code"]), str(data["message"]), data.get("field"))


class ValidationError(ContractError):
    """The input does not match the schema: a field is unknown, missing or malformed."""

    kind = "validation"


class ForbiddenError(ContractError):
    """The submitting organisation or role may not do this."""

    kind = "forbidden"


class NotFoundError(ContractError):
    """A referenced object does not exist."""

    kind = "not_found"


class TransitionError(ContractError):
    """The object's state machine does not allow this event now."""

    kind = "transition"


class ConflictError(ContractError):
    """An ID is already used with different content."""

    kind = "conflict"


_BY_KIND: dict[str, type[ContractError]] = {
    c.kind: c
    for c in (
        ContractError,
        ValidationError,
        ForbiddenError,
        NotFoundError,
        TransitionError,
        ConflictError,
    )
}
