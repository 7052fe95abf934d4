"""One error tree for the whole library; the CLI and the API each catch its root once.

Two families, as in python-tuf: the ledger said no (`RejectedError`, the request was bad
and changed nothing) and something is broken or unreachable (`UnavailableError`,
`IntegrityError`).
"""

from __future__ import annotations

from typing import Any

from chaincode.errors import ContractError


class LedgerError(Exception):
    """Root of every error this library raises on purpose."""

    code = "ledger_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def diagnostics(self) -> str:
        """One line for a person, no traceback."""
        return f"{self.code}: {self}"


class ConfigError(LedgerError):
    """A file, key or setting the library needs is missing or malformed."""

    code = "config_error"


class AuthenticationError(LedgerError):
    """A transaction's signature, certificate or organisation does not check out."""

    code = "authentication_failed"


class RejectedError(LedgerError):
    """The contract refused the transaction or query; nothing was written."""

    def __init__(self, kind: str, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.kind = kind
        self.field = field

    @classmethod
    def from_contract(cls, error: ContractError | dict[str, Any]) -> RejectedError:
        data = error.to_dict() if isinstance(error, ContractError) else error
        return cls(str(data["kind"]), str(data["code"]), str(data["message"]), data.get("field"))

    def diagnostics(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.code}{where}: {self}"


class NotFoundError(LedgerError):
    """A log position, checkpoint or object the caller asked for does not exist."""

    code = "not_found"


class IntegrityError(LedgerError):
    """Stored ledger data does not verify: someone or something changed it."""

    code = "integrity_error"

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class UnavailableError(LedgerError):
    """The ledger's storage or network cannot be reached now; retrying may help."""

    code = "ledger_unavailable"
